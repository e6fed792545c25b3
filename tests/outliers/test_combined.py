"""The ``combined`` score (Fisher's method over conformal p-values of ``recon`` and ``latent_knn``) against
independent computations: a brute-force count, scipy's Fisher statistic, a hand-built leave-one-out k-NN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import combine_pvalues

from shadowplay.errors import ShadowplayError
from shadowplay.outliers import (VAEOutlierDetector, combined_score, conformal_pvalues, fisher_combination,
                                 fit_aggregate_posterior, fit_combined, latent_knn, recon_error)
from shadowplay.outliers.combined import exponential_tail_scale


def test_conformal_pvalues_equal_the_count_at_reference_scores_and_bound_it_between():
    ref = np.random.default_rng(0).normal(size=50)
    count = lambda s: (1 + (ref >= s).sum()) / 51  # noqa: E731 - the exact conformal p-value, by brute force
    np.testing.assert_allclose(conformal_pvalues(ref, ref), [count(s) for s in ref])
    probe = np.random.default_rng(1).normal(size=200) * 1.5
    probe = probe[probe <= ref.max()]  # within the reference range (the tail is tested below)
    p = conformal_pvalues(ref, probe)
    exact = np.array([count(s) for s in probe])
    assert (p >= exact - 1e-12).all() and (p <= exact + 1 / 51 + 1e-12).all()  # valid, at most 1/(n+1) above
    assert conformal_pvalues(ref, [-10.0])[0] == 1.0 and conformal_pvalues(ref, [ref.max()])[0] == pytest.approx(2 / 51)
    assert (np.diff(conformal_pvalues(ref, np.sort(probe))) <= 0).all()  # higher score, smaller p


def test_beyond_every_reference_score_the_p_value_has_an_exponential_tail():
    ref = np.random.default_rng(3).exponential(2.0, size=1000)
    top = np.sort(ref)[-1]
    u = np.quantile(ref, 0.9)
    tau = (ref[ref > u] - u).mean()  # mean excess over the 90th percentile, by hand
    assert exponential_tail_scale(ref) == pytest.approx(tau) and tau == pytest.approx(2.0, rel=0.2)  # Exp(2) tail
    far = top + np.array([0.0, 1e-9, 1.0, 5.0])
    p = conformal_pvalues(ref, far)
    np.testing.assert_allclose(p, 2 / 1001 * np.exp(-(far - top) / tau))
    assert abs(p[0] - p[1]) < 1e-9 and p[3] < p[2] < p[1]  # continuous at the largest score, still decreasing
    assert conformal_pvalues(np.ones(5), [2.0])[0] == pytest.approx(2 / 6)  # no spread: no tail to fit


def test_conformal_pvalues_are_continuous_in_the_score():
    ref = np.arange(10.0)
    a, b = conformal_pvalues(ref, [4.0, 4.0 + 1e-9])
    assert abs(a - b) < 1e-9  # a step function would jump by 1/11 here


def test_fisher_combination_is_scipys_statistic():
    p = np.random.default_rng(2).uniform(0.01, 1, size=(3, 7))
    expect = [combine_pvalues(p[:, i], method="fisher").statistic for i in range(7)]
    np.testing.assert_allclose(fisher_combination(list(p)), expect)
    with pytest.raises(ShadowplayError, match=r"\(0, 1\]"):
        fisher_combination([np.array([0.0, 0.5])])


def test_reference_codes_are_scored_leave_one_out(linear):
    model, *_, x = linear
    codes = fit_aggregate_posterior(model, x, max_components=10, seed=3)
    ref = fit_combined(model, x, codes)
    with torch.no_grad():
        mu = model.encode(x).mean.numpy()
    rows = codes.rows.numpy()
    expect = []
    for i, z in enumerate(mu):
        d = np.linalg.norm(mu[rows] - z, axis=1)
        d[rows == i] = np.inf  # its own code is left out
        expect.append(np.sort(d)[:5].mean())
    np.testing.assert_allclose(ref.scores["latent_knn"], np.sort(expect), rtol=1e-6)  # codes are kept float32
    np.testing.assert_allclose(ref.scores["recon"], np.sort(recon_error(model, x)))
    assert latent_knn(model, x[rows[:1]], codes)[0] < ref.scores["latent_knn"].max()  # without it: distance 0 counts


def test_combined_score_by_hand(linear):
    model, *_, x = linear
    codes = fit_aggregate_posterior(model, x[:40], max_components=40)
    ref = fit_combined(model, x[:40], codes)
    new = x[40:]
    p1 = conformal_pvalues(ref.scores["recon"], recon_error(model, new))
    p2 = conformal_pvalues(ref.scores["latent_knn"], latent_knn(model, new, codes))
    np.testing.assert_allclose(combined_score(model, new, codes, ref), -2 * np.log(p1) - 2 * np.log(p2))


def test_detector_default_is_combined_and_flags_far_points(tmp_path):
    g = np.random.default_rng(0)
    normal = g.normal(size=(300, 5)) * [1, 2, 3, 1, 1] + 10.0
    far = g.normal(size=(30, 5)) * 0.5 + [10, 25, 10, 15, 10]
    det = VAEOutlierDetector(epochs=3, hidden=(16,), latent_dim=2, device="cpu", contamination=0.05).fit(normal)
    assert det.outlier_score == "combined" and det.combined_ is not None
    assert det.predict(far).mean() > 0.8 and abs(det.labels_.mean() - 0.05) < 0.01
    # the training scores behind the threshold are leave-one-out: rescored with their own code among the 5 nearest
    # (distance 0), the training inputs look more normal, never less
    again = det.decision_function(normal)
    assert (again <= det.decision_scores_ + 1e-9).all() and (again < det.decision_scores_ - 1e-6).mean() > 0.9
    back = VAEOutlierDetector.from_run(det.save(tmp_path / "det"))
    np.testing.assert_array_equal(back.combined_.scores["recon"], det.combined_.scores["recon"])
    np.testing.assert_allclose(back.decision_function(far), det.decision_function(far), rtol=1e-6)


def test_combined_is_subset_invariant_to_rounding():
    X = np.random.default_rng(1).normal(size=(40, 3))
    det = VAEOutlierDetector(epochs=1, hidden=(8,), latent_dim=2, device="cpu", val_fraction=0.0).fit(X)
    whole = det.decision_function(X)
    parts = np.concatenate([det.decision_function(X[i:i + 7]) for i in range(0, 40, 7)])
    # float32 GEMMs round differently with the batch size (the kernel's blocking changes); the scores are sums of
    # -2 log p of size 1e-2..1e1, so an absolute 1e-6 is that rounding and nothing a subset could leak
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-6)
