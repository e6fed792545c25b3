"""Unsupervised scores of a code's dependence structure, no factors needed (disentanglement_lib's
``unsupervised_metrics``, used in Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning
of Disentangled Representations").

With Σ the ``(L, L)`` sample covariance of the codes (``np.cov``, ddof 1) and D = diag(Σ):

- Gaussian total correlation: KL( N(0, Σ) ‖ N(0, D) ) = ½ (Σ_j log Σ_jj − log det Σ) = −½ Σ_i log λ_i(R) (nats),
  with R = D^−½ Σ D^−½ the correlation matrix and λ_i(R) its eigenvalues. 0 for uncorrelated dimensions, +∞ for a
  singular Σ (a dimension that is a linear function of others). Singularity is decided from the eigenvalues of R,
  not from the sign of a rounded log-determinant: R is singular when λ_min(R) ≤ L · ε · λ_max(R) (ε the float64
  machine epsilon, the tolerance ``numpy.linalg.matrix_rank`` uses), so a rank-deficient covariance scores +∞
  whatever the rounding. Working on R makes the tolerance independent of the units of each dimension.
- Gaussian Wasserstein correlation: the squared 2-Wasserstein distance between the same two Gaussians,
  W² = tr Σ + tr D − 2 tr (D^½ Σ D^½)^½ = 2 tr Σ − 2 tr (D^½ Σ D^½)^½ (Dowson & Landau 1982, Gelbrich 1990);
  ``..._norm`` divides it by tr Σ so that it does not scale with the codes.
- Mutual information score: the mean over ordered pairs i ≠ j of the plug-in MI (nats) between dimensions i and
  j, each cut into ``bins`` equal-width bins.

Dead (constant) dimensions, handled deliberately: they are dropped before the Gaussian scores — a constant is
independent of everything, and keeping it would put log 0 in the total correlation. They stay in the MI score,
where they contribute 0 and count in the mean, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import (SKLEARN_VERSION, MetricError, ResultMixin, check_codes, check_min_dims, dead_mask, discretize,
                        mutual_info_matrix)


# Relative eigenvalue tolerance for a singular correlation matrix, times L · λ_max (numpy.linalg.matrix_rank's rule).
SINGULAR_RTOL = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class UnsupervisedResult(ResultMixin):
    """The three unsupervised scores; ``dead_dims`` were left out of the Gaussian ones."""

    gaussian_total_correlation: float
    gaussian_wasserstein_correlation: float
    gaussian_wasserstein_correlation_norm: float
    mutual_info_score: float
    dead_dims: tuple[int, ...]
    n_points: int
    sklearn_version: str = field(default=SKLEARN_VERSION)


def _live_cov(codes: Any) -> np.ndarray:
    c = check_codes(codes)
    if c.shape[0] < 2:
        raise MetricError(f"a covariance needs at least 2 points, got {c.shape[0]}")
    live = ~dead_mask(c)
    return np.atleast_2d(np.cov(c[:, live], rowvar=False)) if live.any() else np.zeros((0, 0))


def gaussian_total_correlation(codes: Any) -> float:
    """Total correlation (nats) of a Gaussian with the covariance of ``(N, L)`` codes; see the module docstring."""
    cov = _live_cov(codes)
    if cov.shape[0] < 2:
        return 0.0
    sd = np.sqrt(np.diag(cov))                      # (L,) > 0: dead dimensions were dropped
    eig = np.linalg.eigvalsh(cov / np.outer(sd, sd))  # (L,) eigenvalues of the correlation matrix, ascending
    tol = SINGULAR_RTOL * len(eig) * eig[-1]
    if eig[0] <= tol:
        return float("inf")
    return float(-0.5 * np.sum(np.log(eig)))


def gaussian_wasserstein_correlation(codes: Any, normalize: bool = False) -> float:
    """Squared W2 distance between N(0, Σ) and N(0, diag Σ) for ``(N, L)`` codes; divided by tr Σ if ``normalize``."""
    cov = _live_cov(codes)
    if cov.shape[0] < 2:
        return 0.0
    root_d = np.sqrt(np.diag(cov))
    middle = root_d[:, None] * cov * root_d[None, :]
    # D^½ Σ D^½ is symmetric PSD: the trace of its square root is the sum of the roots of its eigenvalues.
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
    w2 = float(max(2.0 * np.trace(cov) - 2.0 * trace_root, 0.0))
    return w2 / float(np.trace(cov)) if normalize else w2


def mutual_info_score(codes: Any, bins: int = 20) -> float:
    """Mean plug-in MI (nats) between distinct pairs of discretized dimensions of ``(N, L)`` codes, ``L ≥ 2``."""
    c = check_codes(codes)
    check_min_dims(c, 2, "the mutual information score")
    d = discretize(c, bins)
    mi = mutual_info_matrix(d, d)
    np.fill_diagonal(mi, 0.0)
    n = c.shape[1]
    return float(mi.sum() / (n * n - n))


def unsupervised_metrics(codes: Any, bins: int = 20) -> UnsupervisedResult:
    """All three unsupervised scores of ``(N, L)`` codes."""
    c = check_codes(codes)
    return UnsupervisedResult(
        gaussian_total_correlation=gaussian_total_correlation(c),
        gaussian_wasserstein_correlation=gaussian_wasserstein_correlation(c),
        gaussian_wasserstein_correlation_norm=gaussian_wasserstein_correlation(c, normalize=True),
        mutual_info_score=mutual_info_score(c, bins), dead_dims=tuple(int(j) for j in np.flatnonzero(dead_mask(c))),
        n_points=int(c.shape[0]))
