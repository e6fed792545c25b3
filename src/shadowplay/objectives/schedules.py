"""Weights as functions of the optimizer step.

A schedule is a pure function of the step, so resuming at step ``t`` restores it exactly without saved state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class LinearRamp:
    """``start`` → ``end`` linearly over ``steps`` steps, then ``end`` (KL warm-up, capacity C(t))."""

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"a ramp needs steps >= 0, got {self.steps}")

    def __call__(self, step: int) -> float:
        if self.steps == 0 or step >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * (step / self.steps)


def as_schedule(w: "float | Constant | LinearRamp") -> "Constant | LinearRamp":
    return w if callable(w) else Constant(float(w))
