"""The objective: a weighted sum of the named parts its terms report.

Reduction is fixed here and nowhere else: every part is **summed over data and latent dimensions and averaged over
the batch**, so ``recon + 1·kl`` is exactly −ELBO per example (Kingma & Welling 2014, eq. 3) in nats, and β means
what Higgins et al. (2017) mean by it (the un-normalized β).

``Objective([(term, weight), ...])``: ``weight`` is a float or a schedule of the step for a one-part term, or a dict
``{part name: float or schedule}`` naming every part of a multi-part term (β-TCVAE: ``mi``, ``tc``, ``dwkl``).
The objective also carries the model optimizer's defaults that its preset recommends (:class:`OptimizerDefaults`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

import torch
from torch import nn

from ..model import ModelOutput
from .schedules import Constant, LinearRamp, as_schedule
from .terms.base import StepContext, Term

Weight = Union[float, Constant, LinearRamp]


@dataclass(frozen=True)
class OptimizerDefaults:
    """The model optimizer's settings when the user gives none (Adam/AdamW; Kingma & Ba 2015).

    ``lr`` applies only while ``trainer.lr`` is unset: a learning rate the user gives always wins. These fields are
    the one place the library's default learning rate (1e-3) and Adam's betas (0.9, 0.999) live; a preset that
    needs others passes its own (FactorVAE: lr 1e-4, see ``objectives/disentangling.py``). A term's own optimizer
    (``Term.aux_lr``/``aux_betas``) is configured on the term.
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)

    def __post_init__(self) -> None:
        if not self.lr > 0 or not all(0.0 <= b < 1.0 for b in self.betas) or len(self.betas) != 2:
            raise ValueError(f"optimizer defaults need lr > 0 and two betas in [0, 1), got {self.lr}, {self.betas}")


@dataclass
class LossOutput:
    """Result of one objective evaluation.

    Attributes:
        loss: scalar to minimize, Σ_k w_k(t) · part_k.
        parts: each part's unweighted value (scalar tensors, still attached to the graph).
        weights: each part's weight at this step.
        diagnostics: logged-only values (scalars or ``(K,)`` vectors), detached.
    """

    loss: torch.Tensor
    parts: dict[str, torch.Tensor]
    weights: dict[str, float]
    diagnostics: dict[str, torch.Tensor]

    def logged(self) -> dict[str, torch.Tensor]:
        """Everything a trainer logs for this batch: ``loss``, every part and every diagnostic, detached."""
        return {"loss": self.loss.detach(), **{k: v.detach() for k, v in self.parts.items()}, **self.diagnostics}


class Objective(nn.Module):
    """Holds ``terms`` (a ``ModuleDict`` keyed by term name) and one schedule per part."""

    def __init__(self, terms: list[tuple[Term, "Weight | Mapping[str, Weight]"]],
                 optimizer: OptimizerDefaults = OptimizerDefaults()):
        super().__init__()
        if not terms:
            raise ValueError("an objective needs at least one term")
        names = [t.name for t, _ in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"term names must be unique, got {names}")
        self.terms = nn.ModuleDict({t.name: t for t, _ in terms})
        self.schedules: dict[str, Constant | LinearRamp] = {}
        for term, weight in terms:
            if not term.parts:
                raise ValueError(f"term {term.name!r} declares no parts")
            if isinstance(weight, Mapping):
                if set(weight) != set(term.parts):
                    raise ValueError(f"term {term.name!r} has parts {list(term.parts)}; weights were given for "
                                     f"{sorted(weight)}. Give one weight per part")
                given = {p: weight[p] for p in term.parts}
            elif len(term.parts) == 1:
                given = {term.parts[0]: weight}
            else:
                raise ValueError(f"term {term.name!r} has parts {list(term.parts)}: give a dict of weights by part")
            for part, w in given.items():
                if part in self.schedules:
                    raise ValueError(f"part name {part!r} is reported by two terms; part names must be unique")
                self.schedules[part] = as_schedule(w)
        self.optimizer = optimizer

    @property
    def generative(self) -> bool:
        """Whether some term trains the decoder; not for a classifier alone, whose decoder stays at its random
        initialization (no samples, reconstructions or latent check are written for it)."""
        return any(t.generative for t in self.terms.values())

    @property
    def parts(self) -> list[str]:
        """Every part name, in the order the terms were given."""
        return list(self.schedules)

    def weights(self, step: int) -> dict[str, float]:
        return {name: s(step) for name, s in self.schedules.items()}

    def forward(self, out: ModelOutput, ctx: StepContext) -> LossOutput:
        parts, diagnostics = self.evaluate(out, ctx)
        return self.combine(parts, diagnostics, ctx.step)

    def step_free_terms(self) -> tuple[str, ...]:
        """Names of the terms whose value does not depend on ``ctx.step`` (all but e.g. the capacity term's C(t)).
        A compiled training step evaluates these inside its graph; the step, a Python int that changes every
        step, would otherwise make ``torch.compile`` recompile at every step (see ``training/precision.py``)."""
        return tuple(n for n, t in self.terms.items() if not t.reads_step)

    def evaluate(self, out: ModelOutput, ctx: StepContext, names: "tuple[str, ...] | None" = None,
                 before: "tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None" = None
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Parts and diagnostics (detached) of the terms ``names`` (all, in order, when ``None``), unweighted.
        ``before``: the parts and diagnostics of the step's other terms, evaluated earlier (a compiled step's); the
        result extends copies of them, so a name reported twice across the two is refused as within one call."""
        parts: dict[str, torch.Tensor] = dict(before[0]) if before else {}
        diagnostics: dict[str, torch.Tensor] = dict(before[1]) if before else {}
        for name in self.terms if names is None else names:
            term = self.terms[name]
            res = term(out, ctx)
            if set(res.parts) != set(term.parts):
                raise RuntimeError(f"term {name!r} declares parts {list(term.parts)} but reported "
                                   f"{sorted(res.parts)}")
            for key, value in [*res.parts.items(), *res.diagnostics.items()]:
                if key in parts or key in diagnostics or (key in self.schedules and key not in res.parts):
                    raise RuntimeError(f"{key!r} is reported twice (term {name!r}); every reported name must be "
                                       "unique in an objective")
            parts.update(res.parts)
            diagnostics.update({k: v.detach() for k, v in res.diagnostics.items()})
        return parts, diagnostics

    def combine(self, parts: dict[str, torch.Tensor], diagnostics: dict[str, torch.Tensor], step: int) -> LossOutput:
        """The loss Σ_k w_k(step) · part_k over every part (``parts`` holds them all; they are summed in the order
        the terms were given, whatever order they were evaluated in)."""
        weights = self.weights(step)
        parts = {n: parts[n] for n in self.schedules}
        # A part whose weight is 0 right now is left out of the sum (not multiplied by 0), so a NaN in a switched-off
        # part cannot poison the loss and no backward pass runs through it.
        loss = sum(weights[n] * v for n, v in parts.items() if weights[n] != 0.0)
        if not isinstance(loss, torch.Tensor):  # every weight is 0 right now (e.g. a warm-up that starts at 0)
            loss = next(iter(parts.values())) * 0.0
        return LossOutput(loss=loss, parts=parts, weights=weights, diagnostics=diagnostics)

    def aux_terms(self) -> dict[str, Term]:
        """Terms that train parameters of their own (each gets an optimizer named after it)."""
        return {n: t for n, t in self.terms.items() if t.has_aux}
