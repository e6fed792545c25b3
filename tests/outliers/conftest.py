"""Models with known answers for the outlier-score tests: the linear-Gaussian model (exact log p(x) and posterior)
and a tiny conv-free image VAE with random weights."""

from __future__ import annotations

import pytest
import torch

from shadowplay.evaluation.linear_gaussian import linear_gaussian_model
from shadowplay.model import ModelSpec, build_model


def orthogonal(d: int, scales: list[float], seed: int = 0) -> torch.Tensor:
    q = torch.linalg.qr(torch.randn(d, len(scales), generator=torch.Generator().manual_seed(seed),
                                    dtype=torch.float64))[0]
    return q * torch.tensor(scales, dtype=torch.float64)


@pytest.fixture(name="orthogonal")
def orthogonal_fixture():
    return orthogonal


@pytest.fixture
def linear():
    """(model, W, b, sigma, x): exact-posterior linear-Gaussian model in float64 and 50 inputs of dimension 6."""
    W = orthogonal(6, [2.0, 1.0, 0.5])
    b = torch.linspace(-1, 1, 6, dtype=torch.float64)
    sigma = 0.7
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(50, 3, generator=g, dtype=torch.float64) @ W.T + b
         + sigma * torch.randn(50, 6, generator=g, dtype=torch.float64))
    return linear_gaussian_model(W, b, sigma, dtype=torch.float64), W, b, sigma, x


@pytest.fixture
def image_vae():
    torch.manual_seed(0)
    return build_model(ModelSpec(data_shape=(1, 8, 8), latent_dim=3, net="mlp", hidden=(16,))).eval()
