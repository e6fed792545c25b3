"""Unsupervised scores: Gaussian total correlation and Wasserstein correlation against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from shadowplay.metrics import (gaussian_total_correlation, gaussian_wasserstein_correlation, mutual_info_score,
                                unsupervised_metrics)


def _codes_with_covariance(cov: np.ndarray, n: int = 500, seed: int = 0) -> np.ndarray:
    """Points whose sample covariance (ddof 1) is exactly ``cov``."""
    x = np.random.default_rng(seed).standard_normal((n, len(cov)))
    x -= x.mean(axis=0)
    white = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False)).T)
    return white @ np.linalg.cholesky(cov).T


COV = np.array([[2.0, 0.6, 0.3], [0.6, 1.0, -0.2], [0.3, -0.2, 0.5]])


def test_total_correlation_closed_forms():
    rho = 0.8
    two = _codes_with_covariance(np.array([[1.0, rho], [rho, 1.0]]))
    assert gaussian_total_correlation(two) == pytest.approx(-0.5 * math.log(1 - rho ** 2), rel=1e-9)
    # KL(N(0, Σ) ‖ N(0, D)) from the general Gaussian KL formula, independent of the implementation's shortcut.
    d = np.diag(np.diag(COV))
    kl = 0.5 * (np.trace(np.linalg.inv(d) @ COV) - 3 + math.log(np.linalg.det(d) / np.linalg.det(COV)))
    assert gaussian_total_correlation(_codes_with_covariance(COV)) == pytest.approx(kl, rel=1e-9)


def test_total_correlation_scale_invariant_and_dead_dims_dropped():
    codes = _codes_with_covariance(COV)
    base = gaussian_total_correlation(codes)
    assert gaussian_total_correlation(codes * [10.0, 0.1, 3.0]) == pytest.approx(base, rel=1e-9)
    with_dead = np.concatenate([codes, np.ones((len(codes), 1))], axis=1)
    assert gaussian_total_correlation(with_dead) == pytest.approx(base, rel=1e-9)
    assert gaussian_total_correlation(codes[:, [0, 0]]) == math.inf


@pytest.mark.parametrize("seed", range(5))
def test_total_correlation_of_a_rank_deficient_covariance_is_infinite(seed):
    """10 dimensions that are linear maps of 5: Σ has rank 5. Decided from the eigenvalues, not by the sign of a
    rounded log-determinant (which gave a finite 90.75 on such codes)."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((2000, 5)) @ rng.standard_normal((5, 10))
    assert np.linalg.matrix_rank(np.cov(codes, rowvar=False)) == 5
    assert gaussian_total_correlation(codes) == math.inf
    # a little independent noise makes Σ full rank: a large but finite total correlation
    noisy = codes + 1e-3 * rng.standard_normal(codes.shape)
    assert 10 < gaussian_total_correlation(noisy) < math.inf


def test_wasserstein_correlation_against_matrix_square_root():
    codes = _codes_with_covariance(COV)
    ref = 2 * np.trace(COV) - 2 * np.trace(scipy.linalg.sqrtm(COV * np.diag(COV)[:, None])).real
    assert gaussian_wasserstein_correlation(codes) == pytest.approx(ref, rel=1e-8)
    assert gaussian_wasserstein_correlation(codes, normalize=True) == pytest.approx(ref / np.trace(COV), rel=1e-8)
    assert gaussian_wasserstein_correlation(_codes_with_covariance(np.diag([1.0, 4.0]))) == pytest.approx(0, abs=1e-9)


def test_mutual_info_score(noise):
    assert mutual_info_score(noise) < 0.1  # only the plug-in bias, ≈ (bins − 1)² / (2N) = 0.06
    assert mutual_info_score(noise[:, [0, 0, 1]]) > 0.5  # two identical dimensions share ≈ H(bins) ≈ 2.4 nats


def test_unsupervised_metrics_bundle(rotated):
    r = unsupervised_metrics(rotated).as_dict()
    assert set(r) >= {"gaussian_total_correlation", "gaussian_wasserstein_correlation", "mutual_info_score"}
    assert r["gaussian_total_correlation"] > 0
