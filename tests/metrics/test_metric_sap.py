"""SAP (Kumar et al. 2018, §3): what perfect, rotated and noise codes score, the reference protocol (raw codes)
against an independent computation, the standardized option, explicit splits, invariances, dead dimensions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from shadowplay.metrics import MetricError, sap


def test_perfect_discrete_code_scores_one_minus_chance(perfect, factors):
    # Standardized, so the SVC's C = 0.01 does not depend on the code's units. With the reference protocol (raw
    # codes in [0, 1]) the same code scores lower: the regularization keeps the 4-valued factor's SVC near chance.
    r = sap(perfect, factors, standardize=True)
    raw = sap(perfect, factors)
    assert raw.matrix[0, 0] == pytest.approx(1.0) and raw.score < r.score - 0.1
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
    # The reference's LinearSVC(C=0.01) on raw codes collapses at scale 0.001; the standardized option keeps it.
    scaled = rotated * [0.001, 50.0, 3.0] + 2.0
    std = sap(rotated, factors, continuous_factors=continuous, standardize=True)
    assert sap(scaled, factors, continuous_factors=continuous, standardize=True).score == pytest.approx(std.score,
                                                                                                       abs=1e-3)
    if not continuous:
        raw = sap(scaled, factors)  # the reference protocol: dimension 0 at scale 0.001 predicts at chance
        assert raw.matrix[0].max() < base.matrix[0].max() - 0.1


def _reference_matrix(codes, factors, train, test):
    """disentanglement_lib's discrete score matrix, written out: one LinearSVC(C=0.01, balanced) per (dimension,
    factor) on the raw training codes, accuracy on the test codes."""
    out = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=0).fit(codes[train, j:j + 1],
                                                                                 factors[train, k])
            out[j, k] = np.mean(clf.predict(codes[test, j:j + 1]) == factors[test, k])
    return out


def test_default_is_the_reference_protocol_on_raw_codes(rotated, factors):
    r = sap(rotated, factors)
    assert not r.standardize
    perm = np.random.default_rng(0).permutation(len(factors))  # the documented split: PCG64(seed), first third test
    test, train = perm[:1000], perm[1000:]
    expected = _reference_matrix(rotated, factors, train, test)
    np.testing.assert_allclose(r.matrix, expected)
    top2 = np.sort(expected, axis=0)[-2:]
    assert r.score == pytest.approx(float(np.mean(top2[1] - top2[0])))


def test_an_explicit_split_is_used_exactly(rotated, factors):
    train, test = np.arange(0, 2000), np.arange(2000, 2600)
    r = sap(rotated, factors, split=(train, test))
    assert (r.n_train, r.n_test) == (2000, 600)
    np.testing.assert_allclose(r.matrix, _reference_matrix(rotated, factors, train, test))
    for bad, msg in [((train, train[:5]), "overlap"), ((train, np.array([5000])), "out of range"),
                     ((train,), "pair"), ((train, np.array([0.5])), "integers")]:
        with pytest.raises(MetricError, match=msg):
            sap(rotated, factors, split=bad)


@pytest.mark.parametrize("scaled", [False, True])
def test_dead_dimension_scores_no_better_than_chance(perfect, factors, scaled):
    codes = np.concatenate([perfect, np.full((len(perfect), 1), 3.0)], axis=1)
    r = sap(codes, factors, standardize=scaled)
    assert np.all(r.matrix[3] < 0.45)
    assert r.score == pytest.approx(sap(perfect, factors, standardize=scaled).score, abs=0.05)
    assert sap(codes, factors, continuous_factors=True).matrix[3].tolist() == [0.0, 0.0, 0.0]


def test_seed_is_deterministic(rotated, factors):
    assert sap(rotated, factors, seed=3).as_dict() == sap(rotated, factors, seed=3).as_dict()
    assert sap(rotated, factors, seed=3).as_dict()["standardize"] is False
