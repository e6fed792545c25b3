"""The interface of datasets whose ground-truth factors of variation are known.

Disentanglement metrics that sample their own observations (β-VAE score, FactorVAE score) take any object with
these members, so they work with the procedural dSprites, an ``.npz`` of images + integer factors, or a user's own
class. Factor values are integers ``0 .. factor_sizes[k]-1``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class GroundTruthData(Protocol):
    """A factor dataset.

    Members:
        factor_names: ``F`` names.
        factor_sizes: ``F`` ints, the number of values of each factor.
        observation_shape: shape of one observation, e.g. ``(1, 64, 64)``.
        sample_factors(n, rng): ``(n, F)`` int64 array of factor values drawn uniformly and independently.
        observations(factors): ``(n, *observation_shape)`` float32 tensor for an ``(n, F)`` integer array.
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def observations(self, factors: np.ndarray) -> torch.Tensor: ...
