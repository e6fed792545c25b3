"""The linear-Gaussian latent-variable model: the one deep-model setting with an exact answer.

p(z) = N(0, I_L),  p(x|z) = N(Wz + b, σ² I_D)  ⇒  p(x) = N(b, WWᵀ + σ² I_D)   (probabilistic PCA;
Tipping & Bishop 1999, eq. 6), and the posterior is Gaussian with

    Σ = (I + WᵀW / σ²)⁻¹,   μ(x) = Σ Wᵀ (x − b) / σ²        (ibid., eq. 7; Bishop 2006, eq. 12.42).

Built as a real :class:`~shadowplay.model.LatentVariableModel` (linear encoder and decoder, Gaussian posterior,
fixed-scale Gaussian likelihood), it checks every likelihood estimator: with q = the exact posterior every
importance weight equals p(x), so the IWAE estimate is exact for any K; with another q, ELBO ≤ L_K ≤ log p(x).

    >>> W = torch.linalg.qr(torch.randn(5, 2))[0] * torch.tensor([2.0, 0.5])   # orthogonal columns
    >>> model = linear_gaussian_model(W, torch.zeros(5), 0.3)                    # exact posterior as q
    >>> x = model.sample(4)
    >>> exact_log_likelihood(W, torch.zeros(5), 0.3, x)                          # (4,) nats
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import math

import numpy as np
import torch
from torch import nn

from ..distributions import GaussianLikelihood, GaussianPosterior
from ..errors import ShadowplayError
from ..model import LatentVariableModel


def _params(W: Any, b: Any, sigma: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    W = torch.as_tensor(W, dtype=torch.float64)
    if W.ndim != 2:
        raise ShadowplayError(f"W must be a (D, L) matrix, got shape {tuple(W.shape)}")
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if b.shape != (W.shape[0],):
        raise ShadowplayError(f"b must have D={W.shape[0]} values, got shape {tuple(b.shape)}")
    if not float(sigma) > 0:
        raise ShadowplayError(f"sigma must be > 0, got {sigma}")
    return W, b, float(sigma)


def exact_log_likelihood(W: Any, b: Any, sigma: float, x: Any) -> np.ndarray:
    """``(N,)`` exact log p(x) = log N(x; b, WWᵀ + σ²I) in nats, for ``x`` ``(N, D)``."""
    W, b, sigma = _params(W, b, sigma)
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1, W.shape[0])
    cov = W @ W.T + sigma ** 2 * torch.eye(W.shape[0], dtype=torch.float64)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x).numpy()


@dataclass(frozen=True)
class ExactPosterior:
    """p(z|x) = N(mean[i], cov): ``mean`` ``(N, L)``, ``cov`` ``(L, L)`` (the same for every x)."""

    mean: np.ndarray
    cov: np.ndarray


def exact_posterior(W: Any, b: Any, sigma: float, x: Any) -> ExactPosterior:
    """The exact Gaussian posterior of each row of ``x`` ``(N, D)`` (module docstring for the formula)."""
    W, b, sigma = _params(W, b, sigma)
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1, W.shape[0])
    cov = torch.linalg.inv(torch.eye(W.shape[1], dtype=torch.float64) + W.T @ W / sigma ** 2)
    mean = (x - b) @ W @ cov / sigma ** 2  # rows of Σ Wᵀ (x − b) / σ² (Σ is symmetric)
    return ExactPosterior(mean.numpy(), cov.numpy())


def linear_gaussian_model(W: Any, b: Any, sigma: float, posterior: str = "exact", seed: int = 0,
                          dtype: torch.dtype = torch.float32) -> LatentVariableModel:
    """A :class:`LatentVariableModel` with decoder z ↦ Wz + b and likelihood N(·, σ²I).

    Args:
        W: ``(D, L)``; b: ``(D,)``; sigma: the fixed observation noise σ.
        posterior: ``"exact"`` sets the linear encoder to the exact posterior. shadowplay's posterior is a diagonal
            Gaussian, which is exact only when Σ is diagonal, i.e. when W's columns are orthogonal; any W can be
            brought to that form without changing p(x), which depends on W only through WWᵀ: use W·V from the SVD
            W = U S Vᵀ. ``"amortized"`` gives a freshly initialized linear encoder (seeded by ``seed``) to train.
        dtype: parameter dtype (``torch.float64`` for tight numerical checks).
    """
    W, b, sigma = _params(W, b, sigma)
    d, latent = W.shape
    encoder, decoder = nn.Linear(d, 2 * latent), nn.Linear(latent, d)
    with torch.no_grad():
        decoder.weight.copy_(W)
        decoder.bias.copy_(b)
        if posterior == "exact":
            gram = W.T @ W
            off = (gram - torch.diag(torch.diagonal(gram))).abs().max()
            if off > 1e-5 * max(1.0, float(gram.abs().max())):
                raise ShadowplayError(
                    "posterior='exact' needs W with orthogonal columns (WᵀW diagonal): the exact posterior of this "
                    "W has correlated dimensions, which a diagonal Gaussian cannot represent. Use W @ V from "
                    "torch.linalg.svd(W) (same p(x)), or posterior='amortized'")
            cov = torch.linalg.inv(torch.eye(latent, dtype=torch.float64) + gram / sigma ** 2)
            encoder.weight.zero_()
            encoder.weight[:latent] = cov @ W.T / sigma ** 2
            encoder.bias[:latent] = -(cov @ W.T @ b) / sigma ** 2
            encoder.bias[latent:] = torch.log(torch.diagonal(cov))
        elif posterior == "amortized":
            g = torch.Generator().manual_seed(seed)
            bound = 1 / math.sqrt(d)
            encoder.weight.uniform_(-bound, bound, generator=g)
            encoder.bias.uniform_(-bound, bound, generator=g)
        else:
            raise ShadowplayError(f"posterior must be 'exact' or 'amortized', got {posterior!r}")
    model = LatentVariableModel(encoder, decoder, GaussianPosterior(), GaussianLikelihood((d,), sigma),
                                latent, (d,))
    return model.to(dtype).eval()
