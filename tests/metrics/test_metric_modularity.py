"""Modularity and explicitness (Ridgeway & Mozer 2018): closed forms, reference codes, dead dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from shadowplay.metrics import modularity_explicitness
from shadowplay.metrics.modularity import modularity_from_mi


def test_closed_form_from_mi():
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    live = np.array([True, True, True, False])
    out = modularity_from_mi(mi, live)
    # δ = (Σ m² − θ²) / (θ² (F − 1)): 0, (2 − 1) / 2 and (12 − 4) / 8; the dead dimension is NaN (excluded).
    np.testing.assert_allclose(out[:3], [1.0, 0.5, 0.0])
    assert np.isnan(out[3])


def test_reference_codes(perfect, rotated, noise, factors):
    p = modularity_explicitness(perfect, factors)
    assert p.modularity > 0.99 and p.explicitness_test > 0.99
    r = modularity_explicitness(rotated, factors)
    assert r.modularity < 0.8


def test_noise_is_not_modular_zero_but_explicitness_is_chance(noise, factors):
    r = modularity_explicitness(noise, factors)
    assert r.explicitness_test == pytest.approx(0.5, abs=0.05)
    # Noise MI is the plug-in bias ≈ (bins−1)(K−1)/(2N), proportional to K − 1 = 2, 3, 4. Every dimension's θ is the
    # 5-valued factor's, so δ ≈ (2² + 3²) / (4² · 2) and modularity ≈ 1 − 13/32 ≈ 0.59: far from 0.
    assert r.modularity == pytest.approx(1 - 13 / 32, abs=0.1)


def test_dead_dimension_is_excluded_not_counted_as_zero(perfect, factors):
    base = modularity_explicitness(perfect, factors)
    codes = np.concatenate([perfect, np.full((len(perfect), 1), 0.7)], axis=1)
    r = modularity_explicitness(codes, factors)  # the reference divides by a zero std here
    assert r.dead_dims == (3,)
    assert np.isnan(r.per_dim_modularity[3])
    assert r.modularity == pytest.approx(base.modularity, abs=1e-12)  # the reference would give 3/4 of it
    assert r.explicitness_test == pytest.approx(base.explicitness_test, abs=1e-3)
    assert r.as_dict()["per_dim_modularity"][3] is None


def test_all_dimensions_dead(factors):
    r = modularity_explicitness(np.ones((len(factors), 2)), factors)
    assert r.modularity == 0.0 and "constant" in r.note
    assert r.explicitness_test == pytest.approx(0.5, abs=1e-9)


def test_invariant_to_permutation_and_rescaling(rotated, factors):
    base = modularity_explicitness(rotated, factors)
    perm = [1, 2, 0]
    permuted = modularity_explicitness(rotated[:, perm], factors)
    assert permuted.modularity == pytest.approx(base.modularity, abs=1e-12)
    assert permuted.explicitness_test == pytest.approx(base.explicitness_test, abs=1e-4)
    scaled = modularity_explicitness(rotated * [0.01, 9.0, 2.0] + 1.0, factors)
    assert scaled.modularity == pytest.approx(base.modularity, abs=1e-3)
    assert scaled.explicitness_test == pytest.approx(base.explicitness_test, abs=1e-4)
