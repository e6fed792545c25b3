"""The objective: a weighted sum of named terms.

Reduction is fixed here and nowhere else: every term is **summed over data and latent dimensions and averaged over
the batch**, so ``recon + 1·kl`` is exactly −ELBO per example (Kingma & Welling 2014, eq. 3) in nats, and β means
what Higgins et al. (2017) mean by it (the un-normalized β).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model import ModelOutput
from .schedules import Constant, LinearRamp, as_schedule
from .terms.base import StepContext, Term


@dataclass
class LossOutput:
    """Result of one objective evaluation.

    Attributes:
        loss: scalar to minimize, Σ_k w_k(t) · term_k.
        terms: each term's unweighted value (scalar tensors, still attached to the graph).
        weights: each term's weight at this step.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    weights: dict[str, float]


class Objective(nn.Module):
    """Holds ``terms`` (a ``ModuleDict``) and one schedule per term."""

    def __init__(self, terms: list[tuple[Term, "float | Constant | LinearRamp"]], preset: str = "custom"):
        super().__init__()
        if not terms:
            raise ValueError("an objective needs at least one term")
        names = [t.name for t, _ in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"term names must be unique, got {names}")
        self.terms = nn.ModuleDict({t.name: t for t, _ in terms})
        self.schedules = {t.name: as_schedule(w) for t, w in terms}
        self.preset = preset

    def weights(self, step: int) -> dict[str, float]:
        return {name: s(step) for name, s in self.schedules.items()}

    def forward(self, out: ModelOutput, ctx: StepContext) -> LossOutput:
        weights = self.weights(ctx.step)
        values = {name: term(out, ctx) for name, term in self.terms.items()}
        loss = sum(weights[n] * v for n, v in values.items() if weights[n] != 0.0)
        if not isinstance(loss, torch.Tensor):  # every weight is 0 right now (e.g. warm-up start with AE off)
            loss = values[next(iter(values))] * 0.0
        return LossOutput(loss=loss, terms=values, weights=weights)

    def aux_terms(self) -> dict[str, Term]:
        """Terms that train parameters of their own (each gets an optimizer named after it)."""
        return {n: t for n, t in self.terms.items() if t.has_aux}
