"""MIG (Chen et al. 2018, eq. 6): closed forms on a balanced grid, reference codes and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shadowplay.metrics import MetricError, mig


def _grid(repeats: int = 25) -> np.ndarray:
    """Every combination of two 4-valued factors, equally often: the factors are exactly independent."""
    a, b = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    return np.tile(np.stack([a.ravel(), b.ravel()], axis=1), (repeats, 1))


def test_closed_form_identical_code_scores_exactly_one():
    f = _grid()
    r = mig(f.astype(float), f)
    # I(z_a; v_a) = H(v_a) = log 4 and, on the balanced grid, I(z_a; v_b) = 0 exactly.
    np.testing.assert_allclose(r.mi_matrix, np.diag([math.log(4)] * 2), atol=1e-12)
    np.testing.assert_allclose(r.factor_entropy, [math.log(4)] * 2)
    assert r.score == pytest.approx(1.0, abs=1e-12)
    assert r.top_dims == (0, 1)


def test_closed_form_merged_values_halve_the_gap():
    f = _grid()
    codes = np.stack([f[:, 0] // 2, f[:, 1]], axis=1).astype(float)
    r = mig(codes, f)
    # z_0 keeps one bit of the two-bit factor a: (log 2 − 0) / log 4 = 0.5; factor b stays at 1.
    np.testing.assert_allclose(r.per_factor, [0.5, 1.0], atol=1e-12)
    assert r.score == pytest.approx(0.75, abs=1e-12)


def test_reference_codes(perfect, rotated, noise, factors):
    perfect_score = mig(perfect, factors).score
    # Plug-in MI has a positive bias ≈ (bins−1)(K−1)/(2N) in the runner-up entry, so a perfect code sits just
    # below 1: here about 1 − 3·19/(2·3000)/log 4 ≈ 0.993.
    assert 0.98 < perfect_score < 1.0
    assert mig(rotated, factors).score < 0.5
    assert mig(noise, factors).score < 0.02


def test_invariant_to_permutation_and_positive_affine_maps(rotated, factors):
    base = mig(rotated, factors)
    perm = [2, 0, 1]
    r = mig(rotated[:, perm], factors)
    assert r.score == pytest.approx(base.score, abs=1e-12)
    np.testing.assert_allclose(r.mi_matrix, base.mi_matrix[perm], atol=1e-12)
    assert mig(rotated * [0.01, 7.0, 300.0] - 4.0, factors).score == pytest.approx(base.score, abs=1e-3)


def test_needs_two_dimensions(factors, perfect):
    with pytest.raises(MetricError, match="at least 2"):
        mig(perfect[:, :1], factors)
