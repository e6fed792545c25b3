"""KL(q(z|x) ‖ p(z)) and the capacity-controlled variant.

For a diagonal Gaussian against N(0, I) torch's ``kl_divergence`` evaluates the closed form of Kingma & Welling
(2014, appendix B): KL = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²).
"""

from __future__ import annotations

import torch
from torch.distributions import kl_divergence

from ...distributions import PointMass
from ...model import ModelOutput
from ..schedules import LinearRamp
from .base import StepContext, Term, register_term


def kl_per_latent(out: ModelOutput) -> torch.Tensor:
    """``(B, L)`` KL of each latent dimension of each example."""
    if isinstance(out.posterior, PointMass):
        raise ValueError("KL to the prior is not defined for a point-mass (autoencoder) posterior")
    return kl_divergence(out.posterior, out.prior)


@register_term
class KL(Term):
    """KL(q(z|x) ‖ N(0, I)) summed over latents, mean over the batch (β-VAE weights it by β; Higgins et al. 2017)."""

    name = "kl"

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        return kl_per_latent(out).sum(-1).mean()


@register_term
class CapacityKL(Term):
    """|KL − C(t)| with C rising linearly from 0 to ``c_max`` nats over ``steps`` steps.

    Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. 8: the objective is
    E_q[log p(x|z)] − γ·|KL(q(z|x) ‖ p(z)) − C|; the paper uses γ = 1000, C_max = 25 nats over 100,000 steps for
    dSprites. The KL here is the batch mean, as in the paper's minibatch estimate.
    """

    name = "capacity"

    def __init__(self, c_max: float = 25.0, steps: int = 100_000):
        super().__init__()
        self.capacity = LinearRamp(0.0, float(c_max), int(steps))

    def forward(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        kl = kl_per_latent(out).sum(-1).mean()
        return (kl - self.capacity(ctx.step)).abs()
