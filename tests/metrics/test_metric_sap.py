"""SAP (Kumar et al. 2018, §3): what perfect, rotated and noise codes score, invariances, dead dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from shadowplay.metrics import sap


def test_perfect_discrete_code_scores_one_minus_chance(perfect, factors):
    r = sap(perfect, factors)
    # The matching dimension predicts 3- and 4-valued factors perfectly, the others only at chance ≈ 1/K, so the
    # gap is ≈ 1 − 1/K (not 1). A one-feature one-vs-rest linear classifier cannot isolate the middle values of a
    # 5-valued factor, so its top accuracy is lower (≈ 0.6).
    assert r.matrix[0, 0] == pytest.approx(1.0) and r.matrix[1, 1] == pytest.approx(1.0)
    assert r.per_factor[0] == pytest.approx(1 - 1 / 3, abs=0.05)
    assert r.per_factor[1] == pytest.approx(1 - 1 / 4, abs=0.05)
    assert 0.5 < r.score < 0.7
    assert r.n_train + r.n_test == len(factors) and r.n_test == 1000


def test_rotated_and_noise_codes(perfect, rotated, noise, factors):
    assert sap(rotated, factors).score < sap(perfect, factors).score - 0.3
    assert sap(noise, factors).score < 0.05


def test_continuous_version_scores_one_for_a_perfect_code(perfect, rotated, noise, factors):
    assert sap(perfect, factors, continuous_factors=True).score > 0.99
    assert sap(rotated, factors, continuous_factors=True).score < 0.6
    assert sap(noise, factors, continuous_factors=True).score < 0.01


@pytest.mark.parametrize("continuous", [False, True])
def test_invariant_to_permutation_and_rescaling(rotated, factors, continuous):
    base = sap(rotated, factors, continuous_factors=continuous)
    perm = [1, 2, 0]
    permuted = sap(rotated[:, perm], factors, continuous_factors=continuous)
    assert permuted.score == pytest.approx(base.score, abs=1e-12)
    np.testing.assert_allclose(permuted.matrix, base.matrix[perm])
    # The reference's LinearSVC(C=0.01) on raw codes would collapse at scale 0.001; standardizing keeps it.
    scaled = sap(rotated * [0.001, 50.0, 3.0] + 2.0, factors, continuous_factors=continuous)
    assert scaled.score == pytest.approx(base.score, abs=1e-3)


def test_dead_dimension_scores_no_better_than_chance(perfect, factors):
    codes = np.concatenate([perfect, np.full((len(perfect), 1), 3.0)], axis=1)
    r = sap(codes, factors)
    assert np.all(r.matrix[3] < 0.45)
    assert r.score == pytest.approx(sap(perfect, factors).score, abs=0.05)
    assert sap(codes, factors, continuous_factors=True).matrix[3].tolist() == [0.0, 0.0, 0.0]


def test_seed_is_deterministic(rotated, factors):
    assert sap(rotated, factors, seed=3).as_dict() == sap(rotated, factors, seed=3).as_dict()
