"""Reconstruction term: −E_q(z|x)[log p(x|z)], one-sample estimate (Kingma & Welling 2014, eq. 3 & 7)."""

from __future__ import annotations

import torch

from ...model import ModelOutput
from .base import StepContext, Term, register_term


@register_term
class Reconstruction(Term):
    """−log p(x | z) summed over data dimensions (the likelihood's event), mean over the batch. Shape: scalar."""

    name = "recon"

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        return -out.likelihood.log_prob(out.x).mean()
