"""Shared known-answer fixtures for the metric tests: factors, reference codes and a tiny ground-truth dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

SIZES = (3, 4, 5)


def _factors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(s, size=n) for s in SIZES], axis=1)


def _rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


@pytest.fixture(scope="session")
def factors() -> np.ndarray:
    """(3000, 3) uniform integer factors with 3, 4 and 5 values."""
    return _factors(3000, seed=0)


@pytest.fixture(scope="session")
def perfect(factors) -> np.ndarray:
    """A code that copies the factors, scaled to [0, 1], plus tiny noise (too small to cross a bin)."""
    rng = np.random.default_rng(1)
    return factors / (np.array(SIZES) - 1) + 0.005 * rng.standard_normal(factors.shape)


MIXING_ROTATION = 2.0 / 3.0 * np.ones((3, 3)) - np.eye(3)
"""The rotation by 180° about the diagonal (entries −1/3 and 2/3): every code dimension is dominated by the two
factors it should not hold, so every metric must see the difference from the perfect code."""


@pytest.fixture(scope="session")
def rotated(perfect) -> np.ndarray:
    """The perfect code under :data:`MIXING_ROTATION`."""
    return perfect @ MIXING_ROTATION


@pytest.fixture(scope="session")
def random_rotation(perfect) -> np.ndarray:
    """The perfect code under a random rotation (QR of a Gaussian matrix, seed 2)."""
    return perfect @ _rotation(perfect.shape[1], seed=2)


@pytest.fixture(scope="session")
def noise(factors) -> np.ndarray:
    """Codes independent of the factors."""
    return np.random.default_rng(3).standard_normal(factors.shape)


class LinearToyData:
    """A GroundTruthData: observations are a fixed random linear map of the factors scaled to [0, 1]."""

    factor_names = ("a", "b", "c")
    factor_sizes = SIZES
    observation_shape = (12,)

    def __init__(self, seed: int = 0):
        self.weights = np.random.default_rng(seed).standard_normal((len(SIZES), 12))

    def scaled(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(factors) / (np.array(SIZES) - 1)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(s, size=n) for s in SIZES], axis=1).astype(np.int64)

    def observations(self, factors: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((self.scaled(factors) @ self.weights).astype(np.float32))

    def identity_encoder(self, dead_dims: int = 0, mixing: np.ndarray | None = None):
        """Recovers the scaled factors (pseudo-inverse), optionally mixes them (``codes @ mixing``), then appends
        ``dead_dims`` constant dimensions. Works in numpy: tiny torch matmuls are slow on a loaded 2-core machine."""
        unmix = np.linalg.pinv(self.weights)
        if mixing is not None:
            unmix = unmix @ mixing

        def encode(x: torch.Tensor) -> np.ndarray:
            z = x.numpy().astype(np.float64) @ unmix
            return np.concatenate([z, np.zeros((len(z), dead_dims))], axis=1)

        return encode

    @staticmethod
    def random_encoder(dim: int = 3, seed: int = 0):
        """Ignores the input: codes are fresh noise, so nothing about the factors can be read from them."""
        rng = np.random.default_rng(seed)
        return lambda x: rng.standard_normal((len(x), dim))


@pytest.fixture(scope="session")
def toy_data() -> LinearToyData:
    return LinearToyData()
