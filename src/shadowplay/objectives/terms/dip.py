"""DIP-VAE's moment-matching penalties (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations").

DIP-VAE pushes the covariance C of the aggregate posterior q(z) = E_p(x)[q(z|x)] towards the identity, the
covariance of the prior:

    λ_od Σ_{i≠j} C_ij²  +  λ_d Σ_i (C_ii − 1)²                                  (ibid. eqs. 6 and 7)

- DIP-VAE-I (eq. 6) matches only the covariance of the encoder means: C = Cov_p(x)[μ(x)].
- DIP-VAE-II (eq. 7) matches the covariance of q(z) itself: C = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)], by the law
  of total covariance for a diagonal Gaussian q(z|x).

Both are estimated on the minibatch, with the population covariance (divide by B, as disentanglement_lib's
``compute_covariance_z_mean``). The two sums are separate terms so each is logged unweighted and λ_od, λ_d are
ordinary term weights.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from ...model import ModelOutput
from .base import StepContext, Term, register_term

KINDS = ("i", "ii")


def dip_covariance(posterior: Normal, kind: str = "i") -> torch.Tensor:
    """``(L, L)`` batch estimate of Cov[μ(x)] (``kind="i"``) or E[diag σ²(x)] + Cov[μ(x)] (``kind="ii"``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown DIP-VAE kind {kind!r}; choose 'i' or 'ii'")
    if not isinstance(posterior, Normal):
        raise ValueError("DIP-VAE needs a Gaussian posterior (model.posterior 'gaussian'), got "
                         f"{type(posterior).__name__}")
    mu = posterior.loc
    centred = mu - mu.mean(0, keepdim=True)
    cov = centred.T @ centred / mu.shape[0]
    if kind == "ii":
        cov = cov + torch.diag(posterior.variance.mean(0))
    return cov


class _DIPPart(Term):
    def __init__(self, kind: str = "i"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown DIP-VAE kind {kind!r}; choose 'i' or 'ii'")
        self.kind = kind

    def covariance(self, out: ModelOutput) -> torch.Tensor:
        key = f"dip_covariance/{self.kind}"
        if key not in out.extras:
            out.extras[key] = dip_covariance(out.posterior, self.kind)
        return out.extras[key]


@register_term
class DIPOffDiagonal(_DIPPart):
    """Σ_{i≠j} C_ij², weighted by λ_od (Kumar et al. 2018, eqs. 6–7)."""

    name = "dip_offdiag"

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        c = self.covariance(out)
        return (c ** 2).sum() - (torch.diagonal(c) ** 2).sum()


@register_term
class DIPDiagonal(_DIPPart):
    """Σ_i (C_ii − 1)², weighted by λ_d (Kumar et al. 2018, eqs. 6–7)."""

    name = "dip_diag"

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        return ((torch.diagonal(self.covariance(out)) - 1.0) ** 2).sum()
