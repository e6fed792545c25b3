"""DB-VAE's joint loss: a classifier and a VAE sharing one encoder (Amini et al., AIES 2019, §3, eq. 4).

Per input i with label y_i, classifier logits from the shared encoder and q(z|x_i):

    L_i = L_y(y_i, ŷ_i) + 1[y_i = c] · ( −log p(x_i|z_i) + KL(q(z|x_i) ‖ N(0, I)) )

where c is the debiased class: the VAE learns the latent structure of class c only (the paper's faces). The batch
loss is the mean of L_i over all B inputs, so the VAE parts are **summed over the inputs of class c and divided by
B**, exactly the course lab's ``reduce_mean(classification_loss + indicator · vae_loss)``. A batch without class c
gives VAE parts that are exactly 0 with zero gradient: the other class's rows are dropped by indexing, not multiplied
by 0 (0 · NaN would still poison the gradient). Some public ports apply the indicator to the wrong class; the tests
pin the mask.

L_y is the binary cross-entropy of one logit (``head_dim`` 1, labels in {0, 1}) or the softmax cross-entropy of K
logits (``head_dim`` K, labels in 0..K−1). The three parts are weighted by name in the objective: ``classification``,
``recon`` and ``kl`` (β, 1 by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import DataError
from ...model import ModelOutput
from .base import StepContext, Term, TermOutput
from .kl import kl_per_latent


def _labels(out: ModelOutput, ctx: StepContext) -> torch.Tensor:
    if out.logits is None:
        raise DataError("the DB-VAE loss needs a model with a classifier head (ModelSpec.head_dim >= 1)")
    if ctx.labels is None:
        raise DataError("the DB-VAE loss needs labels; this data source has none (give a labelled source)")
    return ctx.labels


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(B,)`` cross-entropy: binary with one logit ``(B, 1)``, softmax with ``(B, K)`` logits."""
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], labels.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits, labels, reduction="none")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_{i: mask_i} values_i / B for ``values``, ``mask`` ``(B,)``: the rows outside the mask take no part (not
    even a NaN of theirs). ``where``, not ``values[mask]``: a boolean index has a data-dependent shape, which splits a
    compiled training step's graph in two."""
    return torch.where(mask, values, 0.0).sum() / values.shape[0]


class Classification(Term):
    """Part ``classification``: L_y, the classifier cross-entropy, mean over the batch ``(B,)`` → scalar."""

    name = "classification"
    parts = ("classification",)

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        labels = _labels(out, ctx)
        return TermOutput({"classification": classification_loss(out.logits, labels).mean()})


class DebiasedVAE(Term):
    """Parts ``recon`` = Σ_{i: y_i = c} −log p(x_i|z_i) / B and ``kl`` = Σ_{i: y_i = c} KL(q(z|x_i) ‖ N(0, I)) / B.

    One term with two parts, so the preset weights KL by name (β, or a warm-up schedule). Diagnostic
    ``kl_per_latent`` ``(L,)``: the mean KL of each latent over the inputs of class c (zeros when the batch has none),
    which shows which latents the VAE uses for the debiased class.
    """

    name = "dbvae"
    generative = True
    parts = ("recon", "kl")

    def __init__(self, debias_class: int = 1):
        super().__init__()
        self.debias_class = int(debias_class)

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        mask = _labels(out, ctx) == self.debias_class  # (B,) bool
        per_latent = kl_per_latent(out)  # (B, L)
        n_c = mask.sum().clamp(min=1)
        return TermOutput(
            {"recon": masked_mean(-out.likelihood.log_prob(out.x), mask), "kl": masked_mean(per_latent.sum(-1), mask)},
            {"kl_per_latent": torch.where(mask[:, None], per_latent, 0.0).sum(0) / n_c})
