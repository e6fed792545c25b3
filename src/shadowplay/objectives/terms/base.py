"""The ``Term`` interface and its registry.

A term is an ``nn.Module`` (so a term with its own network, e.g. FactorVAE's discriminator, is saved with the
checkpoint). ``forward(out, ctx)`` returns a scalar: the term's unweighted value, mean over the batch. A term that
trains its own parameters also defines ``aux_loss(out, ctx)``; the trainer minimizes it with a separate optimizer
named after the term (``aux_lr``/``aux_betas`` set it), after the main step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ...model import ModelOutput

TERMS: dict[str, type["Term"]] = {}


def register_term(cls: type["Term"]) -> type["Term"]:
    TERMS[cls.name] = cls
    return cls


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
    labels: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Term(nn.Module):
    name: str = ""
    aux_lr: float | None = None
    aux_betas: tuple[float, float] = (0.9, 0.999)

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def aux_loss(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor | None:
        return None

    @property
    def has_aux(self) -> bool:
        return type(self).aux_loss is not Term.aux_loss
