"""What the resampling did to an epoch's draws: how concentrated the weights are, and which groups gained.

DB-VAE's weights are meant to give the rare inputs of the debiased class more of the draws (Amini et al., AIES 2019,
Algorithm 1). Two numbers say whether they do, without reading the checkpoint:

- the **effective number of inputs** (Kish, "Survey Sampling", 1965, §11.7): n_eff = (Σ w)² / Σ w², n when the
  weights are uniform and 1 when a single input takes every draw; a small n_eff means α is too small and an epoch
  repeats a handful of inputs;
- per group (when the data have groups), the **share of the draws** Σ_{i∈g} w_i / Σ w against the **share of the
  inputs** n_g / n: a rare group that DB-VAE found has a draw share well above its input share.

:func:`warn_if_concentrated` warns when n_eff < 1 % of n, or below 10 inputs whatever n (an epoch that repeats
fewer than 10 inputs, e.g. the oracle's half share for a group of one input in a small class): on ``biased-fmnist`` the product combination's α = 0.1,
which put most draws on a few dozen of 16,180 inputs and broke the common group (``benchmarks/README.md``), sits
below it and the default α = 0.3 (about 1,200 inputs, 7 %) well above it; so does an early model (about 240 inputs,
1.5 %, after 40 steps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import warnings

import numpy as np

from ..errors import ShadowplayWarning, user_stacklevel

CONCENTRATED = 0.01  # n_eff / n below which an epoch mostly repeats a few inputs
FEWEST = 10           # n_eff below which it does, whatever n


class ConcentratedDrawsWarning(ShadowplayWarning):
    """The resampling weights put most draws on a small share of the debiased class's inputs."""


@dataclass(frozen=True)
class GroupDraws:
    group: int
    name: str
    n: int
    input_share: float  # n_g / n
    draw_share: float   # Σ_{i∈g} w_i / Σ w


@dataclass(frozen=True)
class DrawSummary:
    """The sampling weights of one class's inputs, summarized (``debias/weights.json`` of a run)."""
    debias_class: int
    n: int
    effective_n: float
    max_over_uniform: float  # the largest weight as a multiple of 1 / n
    groups: tuple[GroupDraws, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "groups"}, "groups": [asdict(g) for g in self.groups]}

    def line(self) -> str:
        """One line: ``effective inputs 1,203 of 16,180 (largest weight 9.1× uniform); draws: positive 83.0 % (of
        inputs 99.5 %), ...``."""
        text = (f"effective inputs {self.effective_n:,.0f} of {self.n:,} (largest weight "
                f"{self.max_over_uniform:.1f}× uniform)")
        if self.groups:
            text += "; draws: " + ", ".join(f"{g.name} {100 * g.draw_share:.1f} % (of inputs "
                                            f"{100 * g.input_share:.1f} %)" for g in self.groups)
        return text


def summarize_draws(weights: Any, debias_class: int, groups: Any = None,
                    group_names: Sequence[str] | None = None) -> DrawSummary:
    """Summary of ``weights`` ``(n,)`` (non-negative, any scale) over the debiased class's inputs, with their
    ``groups`` ``(n,)`` integer ids (optional; named by ``group_names``)."""
    w = np.asarray(weights.cpu() if hasattr(weights, "cpu") else weights, dtype=np.float64).reshape(-1)
    total = w.sum()
    n = len(w)
    per: list[GroupDraws] = []
    if groups is not None:
        g = np.asarray(groups.cpu() if hasattr(groups, "cpu") else groups).reshape(-1)
        for k in np.unique(g):
            m = g == k
            name = str(group_names[k]) if group_names is not None and 0 <= k < len(group_names) else f"group {k}"
            per.append(GroupDraws(int(k), name, int(m.sum()), float(m.mean()), float(w[m].sum() / total)))
    return DrawSummary(int(debias_class), n, float(total ** 2 / (w ** 2).sum()), float(w.max() / total * n),
                       tuple(per))


def warn_if_concentrated(summary: DrawSummary, mode: str) -> None:
    """Warn (:class:`ConcentratedDrawsWarning`) when ``summary.effective_n`` < 1 % of its inputs or < 10, with what to try
    for resample ``mode`` (``latent`` or ``groups``)."""
    if summary.n < 20 or summary.effective_n >= max(CONCENTRATED * summary.n, FEWEST):
        return
    fix = ("raise --alpha (it flattens the histogram weights; 0.3 suits combine product) or use --combine max"
           if mode == "latent" else "each group gets an equal share of its class, so a group of a few inputs "
           "repeats them: merge tiny groups or collect more of them")
    warnings.warn(f"the last epoch's draws of class {summary.debias_class} rest on about "
                  f"{summary.effective_n:,.0f} of its {summary.n:,} training inputs (largest weight "
                  f"{summary.max_over_uniform:.0f}× uniform), so training repeats a few inputs; {fix}",
                  ConcentratedDrawsWarning, stacklevel=user_stacklevel())
