"""Likelihood ratio against a background model (Ren et al. 2019).

Ren, Liu, Fertig, Snoek, Poplin, DePristo, Dillon & Lakshminarayanan, "Likelihood ratios for out-of-distribution
detection", NeurIPS 2019, eq. 5: LLR(x) = log p_θ(x) − log p_θ₀(x), where p_θ₀ is a *background* model of the same
architecture trained on perturbed copies of the training inputs: each value is, independently with probability μ
(the mutation rate; the paper searches μ in [0.1, 0.3] for Fashion-MNIST), replaced by a value drawn uniformly from
the value range (§3.2). The background model learns the population-level statistics (smooth backgrounds, low
complexity) that inflate the likelihood of simple inputs, and the ratio cancels them.

The outlier score here is −LLR(x) = −log p_θ(x) + log p_θ₀(x) (higher = more abnormal), both terms as
importance-weighted estimates with the same noise.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ShadowplayError
from ..model import LatentVariableModel
from .scores import neg_iwae


def perturb(x: torch.Tensor, rate: float = 0.2, *, seed: int = 0, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Ren et al.'s perturbation (§3.2): each value of ``x`` ``(N, *shape)`` replaced with probability ``rate`` by
    a uniform draw from [low, high] (8-bit images: the 256 grey levels k/255; otherwise a continuous draw)."""
    if not 0 <= rate <= 1:
        raise ShadowplayError(f"the mutation rate must lie in [0, 1], got {rate}")
    g = torch.Generator().manual_seed(int(seed))
    mask = torch.rand(x.shape, generator=g) < rate
    if low == 0.0 and high == 1.0:
        noise = torch.randint(0, 256, x.shape, generator=g).float() / 255.0
    else:
        noise = low + (high - low) * torch.rand(x.shape, generator=g)
    return torch.where(mask.to(x.device), noise.to(x.device, x.dtype), x)


def likelihood_ratio(model: LatentVariableModel, background: LatentVariableModel, x: torch.Tensor, *,
                     iw_samples: int = 100, seed: int = 0, batch_size: int = 4096,
                     nll: np.ndarray | None = None) -> np.ndarray:
    """−LLR(x) = −log p_θ(x) + log p_θ₀(x) ``(N,)`` nats (Ren et al. 2019, eq. 5). ``nll``: −log p_θ(x) if already
    computed."""
    if background.data_shape != model.data_shape:
        raise ShadowplayError(f"the background model takes inputs of shape {background.data_shape}, the model "
                              f"{model.data_shape}; train the background on the same data")
    if nll is None:
        nll = neg_iwae(model, x, iw_samples=iw_samples, seed=seed, batch_size=batch_size)
    return np.asarray(nll, np.float64) - neg_iwae(background, x, iw_samples=iw_samples, seed=seed,
                                                  batch_size=batch_size)
