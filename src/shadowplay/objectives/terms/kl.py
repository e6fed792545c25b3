"""KL(q(z|x) ‖ p(z)) and the capacity-controlled variant.

For a diagonal Gaussian against N(0, I) the KL has the closed form of Kingma & Welling (2014, appendix B):
KL = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²). :func:`normal_kl` evaluates it for two Normals directly, with the same
operations as torch's registered Normal–Normal rule (so the values are the same to the bit); going through
``torch.distributions.kl_divergence`` instead costs a Python dispatch per step and breaks a ``torch.compile`` graph
(its lookup calls ``min`` on a generator, which Dynamo cannot trace).
"""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from ...distributions import PointMass
from ...model import ModelOutput
from ..schedules import LinearRamp
from .base import StepContext, Term, TermOutput


def has_kl(out: ModelOutput) -> bool:
    """Whether KL(q(z|x) ‖ p(z)) is defined: false for the plain autoencoder's point-mass posterior."""
    return not isinstance(out.posterior, PointMass)


def normal_kl(p: Normal, q: Normal) -> torch.Tensor:
    """KL(p ‖ q) elementwise for two Normals of one batch shape: ½ (r + ((μ_p − μ_q)/σ_q)² − 1 − log r) with
    r = (σ_p/σ_q)² (Kingma & Welling 2014, appendix B, for q = N(0, I))."""
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


def kl_per_latent(out: ModelOutput) -> torch.Tensor:
    """``(B, L)`` KL of each latent dimension of each example, computed once per forward pass (kept in
    ``out.kl_cache``: several terms of one objective read it)."""
    if not has_kl(out):
        raise ValueError("KL to the prior is not defined for a point-mass (autoencoder) posterior")
    if out.kl_cache is None:
        q, p = out.posterior, out.prior
        exact_normals = type(q) is Normal and type(p) is Normal  # a subclass may register a rule of its own
        out.kl_cache = normal_kl(q, p) if exact_normals else kl_divergence(q, p)
    return out.kl_cache


class KL(Term):
    """Part ``kl``: KL(q(z|x) ‖ N(0, I)) summed over latents, mean over the batch (β-VAE weights it by β; Higgins
    et al. 2017). Diagnostic ``kl_per_latent``: ``(L,)`` the batch mean of each latent's KL (Burda et al. 2016 use
    it to spot inactive units); the trainer logs it as ``kl_per_latent/0`` … ``kl_per_latent/L−1``."""

    name = "kl"
    parts = ("kl",)

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        per_latent = kl_per_latent(out)  # (B, L)
        return TermOutput({"kl": per_latent.sum(-1).mean()}, {"kl_per_latent": per_latent.mean(0)})


class CapacityKL(Term):
    """Part ``capacity``: |KL − C(t)| with C rising linearly from 0 to ``c_max`` nats over ``steps`` steps.

    Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. 8: the objective is
    E_q[log p(x|z)] − γ·|KL(q(z|x) ‖ p(z)) − C|; the paper uses γ = 1000, C_max = 25 nats over 100,000 steps for
    dSprites. The KL here is the batch mean, as in the paper's minibatch estimate. Diagnostics: ``kl`` (that batch
    mean, so the run shows how well KL tracks the target), ``capacity_target`` C(t) and ``kl_per_latent`` ``(L,)``.
    """

    name = "capacity"
    parts = ("capacity",)
    reads_step = True

    def __init__(self, c_max: float = 25.0, steps: int = 100_000):
        super().__init__()
        self.capacity = LinearRamp(0.0, float(c_max), int(steps))

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        per_latent = kl_per_latent(out)  # (B, L)
        kl = per_latent.sum(-1).mean()
        target = self.capacity(ctx.step)
        return TermOutput({"capacity": (kl - target).abs()},
                          {"kl": kl, "capacity_target": torch.as_tensor(target, dtype=kl.dtype, device=kl.device),
                           "kl_per_latent": per_latent.mean(0)})
