"""Mutual Information Gap (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs").

MIG, eq. 6 of the paper::

    MIG = 1/F · Σ_k  ( I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k) ) / H(v_k),     j(k) = argmax_j I(z_j; v_k)

The paper estimates I(z_j; v_k) from the encoder's distribution; this follows disentanglement_lib's
``discrete_mig`` instead: each code dimension is cut into ``bins`` (20) equal-width bins over the range of all
points and the plug-in MI of the bin labels with the factor is used (nats). The reference protocol scores 10,000
points drawn from the dataset; this function scores whatever arrays it is given.

Finite samples leave a positive bias of roughly ``(bins−1)(K−1) / (2N)`` nats in every MI entry, so a perfect code
scores slightly below 1 (≈ 0.997 for N = 2,000 and four-valued factors) and a code of pure noise slightly above 0.
MIG is invariant to permuting code dimensions and to a positive affine map of any single dimension (the bins move
with it; up to rounding of points lying exactly on a bin edge), but not to rotations of the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import (SKLEARN_VERSION, MetricError, ResultMixin, check_codes_factors, check_min_dims,
                        discretize, entropy, frozen, mutual_info_matrix)


@dataclass(frozen=True)
class MIGResult(ResultMixin):
    """MIG and what it was computed from.

    Fields:
        score: mean of ``per_factor`` (in [0, 1]).
        per_factor: ``(F,)`` normalized gap of each factor.
        mi_matrix: ``(L, F)`` plug-in I(z_j; v_k) in nats.
        factor_entropy: ``(F,)`` H(v_k) in nats.
        top_dims: ``(F,)`` the code dimension with the largest MI for each factor.
        bins, n_points: the discretization and sample size used.
    """

    score: float
    per_factor: np.ndarray
    mi_matrix: np.ndarray
    factor_entropy: np.ndarray
    top_dims: tuple[int, ...]
    bins: int
    n_points: int
    sklearn_version: str = field(default=SKLEARN_VERSION)


def mig(codes: Any, factors: Any, bins: int = 20) -> MIGResult:
    """Mutual Information Gap of ``(N, L)`` codes against ``(N, F)`` integer factors.

    Args:
        codes: ``(N, L)`` codes (numpy or torch), ``L ≥ 2``.
        factors: ``(N, F)`` integer factor values, each factor with at least 2 distinct values.
        bins: equal-width bins per code dimension (disentanglement_lib: 20).

    Returns:
        :class:`MIGResult`.
    """
    c, f = check_codes_factors(codes, factors)
    check_min_dims(c, 2, "MIG")
    if bins < 2:
        raise MetricError(f"bins must be at least 2, got {bins}")
    mi = mutual_info_matrix(discretize(c, bins), f)
    h = entropy(f)
    order = np.argsort(-mi, axis=0, kind="stable")
    top = np.take_along_axis(mi, order[:2], axis=0)
    per_factor = (top[0] - top[1]) / h
    return MIGResult(score=float(per_factor.mean()), per_factor=frozen(per_factor), mi_matrix=frozen(mi),
                     factor_entropy=frozen(h), top_dims=tuple(int(j) for j in order[0]), bins=int(bins),
                     n_points=int(c.shape[0]))
