"""DIP-VAE's moment-matching penalties (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations").

DIP-VAE pushes the covariance C of the aggregate posterior q(z) = E_p(x)[q(z|x)] towards the identity, the
covariance of the prior:

    λ_od Σ_{i≠j} C_ij²  +  λ_d Σ_i (C_ii − 1)²                                  (ibid. eqs. 6 and 7)

- DIP-VAE-I (eq. 6) matches only the covariance of the encoder means: C = Cov_p(x)[μ(x)].
- DIP-VAE-II (eq. 7) matches the covariance of q(z) itself: C = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)], by the law
  of total covariance for a diagonal Gaussian q(z|x).

Both are estimated on the minibatch, with the population covariance (divide by B, as disentanglement_lib's
``compute_covariance_z_mean``). The two sums are the two parts of one term, so each is logged unweighted and
λ_od, λ_d are ordinary part weights.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from ...model import ModelOutput
from .base import StepContext, Term, TermOutput

KINDS = ("i", "ii")


def dip_covariance(posterior: Normal, kind: str = "i") -> torch.Tensor:
    """``(L, L)`` batch estimate of Cov[μ(x)] (``kind="i"``) or E[diag σ²(x)] + Cov[μ(x)] (``kind="ii"``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown DIP-VAE kind {kind!r}; choose 'i' or 'ii'")
    if not isinstance(posterior, Normal):
        raise ValueError("DIP-VAE needs a Gaussian posterior (model.posterior 'gaussian'), got "
                         f"{type(posterior).__name__}")
    mu = posterior.loc                        # (B, L) encoder means
    centred = mu - mu.mean(0, keepdim=True)
    cov = centred.T @ centred / mu.shape[0]   # (L, L) population covariance of μ (divide by B, not B − 1)
    if kind == "ii":  # law of total covariance: + E[diag σ²(x)]
        cov = cov + torch.diag(posterior.variance.mean(0))
    return cov


class DIPPenalty(Term):
    """DIP-VAE's penalty (Kumar et al. 2018, eqs. 6–7), one term with two parts from one ``(L, L)`` covariance C:

    - ``dip_offdiag`` Σ_{i≠j} C_ij², weighted by λ_od;
    - ``dip_diag``    Σ_i (C_ii − 1)², weighted by λ_d.
    """

    name = "dip"
    parts = ("dip_offdiag", "dip_diag")

    def __init__(self, kind: str = "i"):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown DIP-VAE kind {kind!r}; choose 'i' or 'ii'")
        self.kind = kind

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        c = dip_covariance(out.posterior, self.kind)  # (L, L)
        diag = torch.diagonal(c)                      # (L,)
        return TermOutput({"dip_offdiag": (c ** 2).sum() - (diag ** 2).sum(), "dip_diag": ((diag - 1.0) ** 2).sum()})
