"""DCI (Eastwood & Williams 2018): closed forms of the entropy scores, reference codes, zero importance."""

from __future__ import annotations

import numpy as np
import pytest

from shadowplay.metrics import MetricError, dci
from shadowplay.metrics.dci import scores_from_importance

FAST = dict(n_estimators=10)


def test_closed_forms_from_importance():
    d, c, d_i, c_k = scores_from_importance(np.eye(3))
    assert (d, c) == (pytest.approx(1.0), pytest.approx(1.0))
    d, c, _, _ = scores_from_importance(np.ones((3, 3)))
    assert (d, c) == (pytest.approx(0.0), pytest.approx(0.0))
    # One dimension split evenly between two factors: D_0 = 1 − H_2(½, ½) = 0, and it carries 2/3 of the weight.
    d, c, d_i, c_k = scores_from_importance(np.array([[0.5, 0.5], [0.0, 0.5]]) * 2)
    np.testing.assert_allclose(d_i, [0.0, 1.0])
    assert d == pytest.approx(1 / 3)
    np.testing.assert_allclose(c_k, [1.0, 0.0])


def test_zero_importance_dimension_and_factor():
    r = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    d, c, d_i, c_k = scores_from_importance(r)
    # The unused dimension gets D_i = 0 with weight 0: it neither lowers nor raises D.
    assert d == pytest.approx(1.0) and d_i[2] == 0.0
    assert c == pytest.approx(1.0)
    # A factor no dimension explains gets C_k = 0.
    _, c, _, c_k = scores_from_importance(np.array([[1.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(c_k, [1.0, 0.0])
    assert scores_from_importance(np.zeros((2, 2)))[:2] == (0.0, 0.0)


def test_reference_codes_gbt(perfect, rotated, noise, factors):
    p = dci(perfect, factors, **FAST)
    assert p.disentanglement > 0.95 and p.completeness > 0.95 and p.informativeness_test > 0.95
    r = dci(rotated, factors, **FAST)
    assert r.disentanglement < p.disentanglement - 0.3 and r.completeness < p.completeness - 0.3
    n = dci(noise, factors, **FAST)
    assert n.disentanglement < 0.1
    assert n.informativeness_test < 0.45  # chance is 1/3, 1/4 and 1/5
    assert p.n_train == 2400 and p.n_test == 600


def test_reference_codes_lasso(perfect, rotated, factors):
    p = dci(perfect, factors, predictor="lasso")
    assert p.disentanglement > 0.95 and p.completeness > 0.95
    assert dci(rotated, factors, predictor="lasso").disentanglement < p.disentanglement - 0.3


def test_invariant_to_permutation_and_rescaling(rotated, factors):
    base = dci(rotated, factors, **FAST)
    perm = [2, 0, 1]
    permuted = dci(rotated[:, perm], factors, **FAST)
    # Equal up to tie-breaking between equally good splits.
    assert permuted.disentanglement == pytest.approx(base.disentanglement, abs=0.03)
    np.testing.assert_allclose(permuted.importance, base.importance[perm], atol=0.05)
    scaled = dci(rotated * [0.01, 20.0, 3.0], factors, **FAST)
    assert scaled.disentanglement == pytest.approx(base.disentanglement, abs=0.03)


def test_dead_dimension_has_zero_importance(perfect, factors):
    codes = np.concatenate([perfect, np.zeros((len(perfect), 1))], axis=1)
    r = dci(codes, factors, **FAST)
    np.testing.assert_allclose(r.importance[3], 0.0)
    assert r.per_dim_disentanglement[3] == 0.0
    assert r.disentanglement > 0.95


def test_unknown_predictor(perfect, factors):
    with pytest.raises(MetricError, match="predictor"):
        dci(perfect, factors, predictor="forest")


def test_evenly_spread_importance_scores_zero_not_minus_rounding():
    # a 1-latent code on dSprites printed "disentanglement -0.000": 1 − H came out as −2.2e-16
    from shadowplay.metrics.dci import scores_from_importance
    for n_dims, n_factors in ((1, 5), (3, 12), (10, 5)):
        d, c, d_i, c_k = scores_from_importance(np.ones((n_dims, n_factors)))
        assert d == 0.0 and (d_i >= 0).all() and (c_k >= 0).all() and c >= 0.0
