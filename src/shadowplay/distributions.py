"""Posteriors q(z|x) and likelihoods p(x|z) as small modules that turn network outputs into
``torch.distributions`` objects.

Posteriors (batch shape ``(B, L)``, one distribution per latent so KL can be read per dimension):
    ``gaussian``  diagonal Normal; the encoder outputs μ and **log σ²** (Kingma & Welling 2014, §3), and
                  ``rsample`` is the reparameterization z = μ + σ ⊙ ε, ε ~ N(0, I) (ibid., §2.4).
    ``point``     a point mass at the encoder output (plain autoencoder; no KL is defined).
Likelihoods (batch shape ``(B,)``, event shape = one example's shape, so ``log_prob`` sums over data dimensions):
    ``bernoulli`` logits; meant for data in [0, 1] (on grey levels it is not a normalized density: see README).
    ``gaussian``  mean, with a fixed σ or a learned per-dimension log σ.
    ``laplace``   location, with a fixed or learned per-dimension log scale.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Laplace, Normal, constraints


class PointMass(Distribution):
    """A Dirac delta at ``loc`` (``(B, L)``): ``rsample`` returns ``loc``, so gradients reach the encoder."""

    arg_constraints = {"loc": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: torch.Tensor):
        self.loc = loc
        super().__init__(batch_shape=loc.shape, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return torch.zeros_like(self.loc)

    @property
    def variance(self) -> torch.Tensor:
        return torch.zeros_like(self.loc)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        return self.loc.expand(torch.Size(sample_shape) + self.loc.shape)


class GaussianPosterior(nn.Module):
    """``(B, 2L)`` → ``Normal(μ, σ)`` with σ = exp(½ · log σ²); the first half of the input is μ."""

    name = "gaussian"

    def n_params(self, latent_dim: int) -> int:
        return 2 * latent_dim

    def forward(self, h: torch.Tensor) -> Normal:
        mu, logvar = h.chunk(2, dim=-1)
        return Normal(mu, torch.exp(0.5 * logvar), validate_args=False)


class PointPosterior(nn.Module):
    """``(B, L)`` → ``PointMass`` (deterministic autoencoder code)."""

    name = "point"

    def n_params(self, latent_dim: int) -> int:
        return latent_dim

    def forward(self, h: torch.Tensor) -> PointMass:
        return PointMass(h)


POSTERIORS = {"gaussian": GaussianPosterior, "point": PointPosterior}


class BernoulliLikelihood(nn.Module):
    """Decoder output = logits, ``(B, *shape)`` → ``Independent(Bernoulli)``; mean = sigmoid(logits)."""

    name = "bernoulli"

    def __init__(self, shape: tuple[int, ...], scale: float | None = None):
        super().__init__()
        self.ndims = len(shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        return Independent(Bernoulli(logits=h, validate_args=False), self.ndims, validate_args=False)


class _LocationScaleLikelihood(nn.Module):
    """Decoder output = location ``(B, *shape)``; scale fixed, or learned as one log-scale per data dimension."""

    family: type = Normal

    def __init__(self, shape: tuple[int, ...], scale: float | None = None):
        super().__init__()
        self.ndims = len(shape)
        if scale is None:
            self.log_scale = nn.Parameter(torch.zeros(shape))
        else:
            self.register_buffer("log_scale", torch.full(shape, math.log(scale)))

    def forward(self, h: torch.Tensor) -> Distribution:
        base = self.family(h, self.log_scale.exp().expand_as(h), validate_args=False)
        return Independent(base, self.ndims, validate_args=False)


class GaussianLikelihood(_LocationScaleLikelihood):
    name = "gaussian"
    family = Normal


class LaplaceLikelihood(_LocationScaleLikelihood):
    name = "laplace"
    family = Laplace


LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "gaussian": GaussianLikelihood, "laplace": LaplaceLikelihood}


def standard_normal_prior(batch_shape: torch.Size | tuple[int, ...], like: torch.Tensor) -> Normal:
    """p(z) = N(0, I) with the given batch shape, on ``like``'s device and dtype."""
    zeros = torch.zeros(batch_shape, device=like.device, dtype=like.dtype)
    return Normal(zeros, torch.ones_like(zeros), validate_args=False)
