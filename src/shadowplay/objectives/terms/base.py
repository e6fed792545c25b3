"""The ``Term`` interface: what one loss term computes and what it reports.

A term is an ``nn.Module`` (so a term with its own network, e.g. FactorVAE's discriminator, is saved with the
checkpoint). ``forward(out, ctx)`` returns a :class:`TermOutput`:

- ``parts``: the term's named, **unweighted** values, each a scalar tensor averaged over the batch (summed over data
  and latent dimensions). The objective multiplies each part by the weight given *for that name* (a float or a
  schedule of the step) and adds it to the loss. The names are declared up front in the class attribute ``parts``
  so a preset's weights are checked when the objective is built, not at the first step. β-TCVAE is one term with
  three parts (``mi``, ``tc``, ``dwkl``), computed from one pass over the batch.
- ``diagnostics``: values that are logged but never added to the loss (the ELBO, the KL of each latent, the
  capacity target C(t), ...): a scalar, or a ``(K,)`` vector that the trainer logs as ``name/0`` … ``name/K−1``.
  They are computed in the same graph but the objective detaches them, so they never carry a gradient.

Every reported name (part or diagnostic, over all terms of an objective) is a key of ``metrics.jsonl``; two terms
may not report the same name.

A term whose value depends on the step (the capacity term's C(t)) sets ``reads_step = True``. A compiled training
step (``trainer.compile``) evaluates every other term inside its graph and such a term outside it, eagerly: the
step is a Python int that changes every step, and a graph that read it would be recompiled at every step. Inside
the graph a term should also avoid shapes that depend on values (a boolean mask as an index) and Python calls
Dynamo cannot trace; ``tests/training/test_precision.py`` traces every preset's terms to check it.

A term that trains parameters of its own also defines ``aux_loss(out, ctx)``; the trainer minimizes it with a
separate optimizer named after the term (``aux_lr``/``aux_betas`` set it), after the main step, and logs it as
``<name>_aux``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ...model import ModelOutput


@dataclass(frozen=True)
class TermOutput:
    """What a term reports for one batch.

    Attributes:
        parts: part name → scalar tensor, unweighted; the objective weights each by name and sums them.
        diagnostics: name → scalar or ``(K,)`` tensor, logged only (the objective detaches them).
    """

    parts: Mapping[str, torch.Tensor]
    diagnostics: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only views: a term's output is a record of the step, not a scratch space shared between terms.
        object.__setattr__(self, "parts", MappingProxyType(dict(self.parts)))
        object.__setattr__(self, "diagnostics", MappingProxyType(dict(self.diagnostics)))


@dataclass
class StepContext:
    """What a term may know about the step besides the batch.

    Attributes:
        step: optimizer steps taken so far (0-based for the step being computed).
        dataset_size: N, the number of training examples (β-TCVAE's estimators need it).
        model: the model being trained (terms that need another forward pass).
        draw_batch: returns another training batch ``(B, *shape)`` (FactorVAE's discriminator minibatch).
        labels: ``(B,)`` int64 labels of the batch's inputs when the data have labels (DB-VAE's classifier).
    """

    step: int = 0
    dataset_size: int = 1
    model: Any = None
    draw_batch: Callable[[], torch.Tensor] | None = None
    labels: torch.Tensor | None = None  # (B,) the batch's labels when the data have them (DB-VAE's mask)


class Term(nn.Module):
    """Base class of loss terms. Subclasses set ``name`` (the module's key in the objective and the name of its
    auxiliary optimizer, if any), ``parts`` (the names of the values ``forward`` reports as parts; a one-part term
    usually reports its own name) and implement ``forward``."""

    name: str = ""
    parts: tuple[str, ...] = ()
    generative: bool = False  # trains the decoder p(x|z): then samples and the latent check mean something
    reads_step: bool = False  # forward reads ctx.step (a compiled training step evaluates such a term eagerly)
    aux_lr: float | None = None
    aux_betas: tuple[float, float] = (0.9, 0.999)

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def aux_loss(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor | None:
        return None

    @property
    def has_aux(self) -> bool:
        return type(self).aux_loss is not Term.aux_loss
