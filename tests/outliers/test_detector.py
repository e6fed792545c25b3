"""VAEOutlierDetector: scikit-learn and PyOD conventions, tabular and image inputs, saving, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.utils.estimator_checks import check_estimator

from shadowplay.errors import ConfigError, DataError, ShadowplayError
from shadowplay.outliers import VAEOutlierDetector

TINY = dict(epochs=3, hidden=(16,), latent_dim=2, iw_samples=4, device="cpu")


@pytest.fixture(scope="module")
def blobs():
    g = np.random.default_rng(0)
    normal = g.normal(size=(300, 5)) * [1, 2, 3, 1, 1] + 10.0
    far = g.normal(size=(30, 5)) * 0.5 + [10, 25, 10, 15, 10]
    return normal, far


@pytest.fixture(scope="module")
def fitted(blobs):
    return VAEOutlierDetector(score="iwae", contamination=0.05, **TINY).fit(blobs[0])


def test_pyod_and_sklearn_conventions(fitted, blobs):
    normal, far = blobs
    d = fitted.decision_function(np.vstack([normal[:30], far]))
    assert d.shape == (60,) and d.dtype == np.float64
    assert d[30:].mean() > d[:30].mean()  # higher = more abnormal
    np.testing.assert_array_equal(fitted.score_samples(far), -fitted.decision_function(far))
    assert set(np.unique(fitted.predict(far))) <= {0, 1} and fitted.predict(far).mean() > 0.8
    assert fitted.decision_scores_.shape == (300,) and fitted.labels_.shape == (300,)
    assert fitted.threshold_ == pytest.approx(np.percentile(fitted.decision_scores_, 95))
    assert abs(fitted.labels_.mean() - 0.05) < 0.01


def test_standardization_is_stored_and_applied(fitted, blobs):
    np.testing.assert_allclose(fitted.standardize_["mean"], blobs[0].mean(0))
    np.testing.assert_allclose(fitted.standardize_["std"], blobs[0].std(0))


def test_params_clone_and_fit_returns_self(blobs):
    det = VAEOutlierDetector(score="kl", contamination=0.2, **TINY)
    assert det.get_params()["score"] == "kl" and det.get_params()["contamination"] == 0.2
    c = clone(det).set_params(contamination=0.3)
    assert c.contamination == 0.3 and not hasattr(c, "model_")
    assert det.fit(blobs[0]) is det


def test_scores_are_deterministic(fitted, blobs):
    np.testing.assert_array_equal(fitted.decision_function(blobs[1]), fitted.decision_function(blobs[1]))
    np.testing.assert_allclose(fitted.decision_function(blobs[1][::-1]), fitted.decision_function(blobs[1])[::-1],
                               rtol=1e-6)


@pytest.mark.parametrize("bad", [0.0, 0.6, -1, "a", True])
def test_contamination_out_of_range(bad, blobs):
    with pytest.raises(ConfigError, match=r"contamination must be a fraction in \(0, 0.5\]"):
        VAEOutlierDetector(contamination=bad, **TINY).fit(blobs[0])


def test_unknown_score(blobs):
    with pytest.raises(ConfigError, match="unknown score 'nope'"):
        VAEOutlierDetector(score="nope", **TINY).fit(blobs[0])


def test_score_before_fit():
    det = VAEOutlierDetector(**TINY)
    for method in (det.decision_function, det.predict, det.score_samples):
        with pytest.raises(ShadowplayError, match="not fitted yet") as e:
            method(np.zeros((2, 5)))
        assert isinstance(e.value, SkNotFittedError)


def test_feature_count_differs(fitted):
    with pytest.raises(DataError, match=r"X has 4 features.*\b5\b"):
        fitted.decision_function(np.zeros((3, 4)))


def test_nan_rows_are_named(fitted, blobs):
    x = blobs[0][:8].copy()
    x[2, 1] = np.nan
    x[6, 0] = np.inf
    with pytest.raises(DataError, match=r"2 row\(s\) \(2, 6\)"):
        fitted.decision_function(x)


def test_images_fit_and_wrong_size(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(120, 1, 8, 8, generator=g) < 0.3).float()
    det = VAEOutlierDetector(score="complexity", **TINY).fit(x)
    assert det.input_shape_ == (1, 8, 8) and det.standardize_ is None
    assert det.decision_function(x[:5, 0]).shape == (5,)  # (N, H, W) is taken as one channel
    with pytest.raises(DataError, match=r"takes images of shape \(1, 8, 8\).*got \(1, 10, 10\)"):
        det.decision_function(torch.zeros(2, 1, 10, 10))


def test_conv_net_refuses_an_image_size_it_does_not_take():
    with pytest.raises(ValueError, match="square images of side"):
        VAEOutlierDetector(net="conv", **TINY).fit(np.zeros((10, 1, 9, 9), np.float32))


@pytest.mark.parametrize("score", ["recon", "latent_density", "typicality", "likelihood_ratio", "elbo", "combined"])
def test_save_and_from_run_restore_every_score(score, blobs, tmp_path):
    det = VAEOutlierDetector(score=score, likelihood="laplace", **TINY).fit(blobs[0])
    path = det.save(tmp_path / "det")
    assert not list(path.rglob("*.pt")) and not list(path.rglob("*.pkl"))
    back = VAEOutlierDetector.from_run(path)
    assert back.score == score and back.threshold_ == det.threshold_
    np.testing.assert_allclose(back.decision_function(blobs[1]), det.decision_function(blobs[1]), rtol=1e-6)
    np.testing.assert_array_equal(back.decision_scores_, det.decision_scores_)


def test_from_run_with_another_score_calibrates_on_x(fitted, blobs, tmp_path):
    path = fitted.save(tmp_path / "det")
    other = VAEOutlierDetector.from_run(path, score="latent_density", X=blobs[0])
    assert other.score == "latent_density" and other.aggregate_posterior_ is not None
    assert other.labels_.mean() == pytest.approx(0.05, abs=0.01)


def test_calibrate_switches_score_without_retraining(blobs):
    det = VAEOutlierDetector(score="iwae", **TINY).fit(blobs[0])
    weights = {k: v.clone() for k, v in det.model_.state_dict().items()}
    det.set_params(score="kl", contamination=0.2).calibrate(blobs[0])
    assert all(torch.equal(v, det.model_.state_dict()[k]) for k, v in weights.items())
    assert det.fitted_score_ == "kl" and abs(det.labels_.mean() - 0.2) < 0.01


def test_check_estimator_where_it_applies():
    """Every scikit-learn estimator check passes except those that call ``score`` as a method: the issue names
    the score parameter ``score`` (``VAEOutlierDetector(score="iwae")``), which shadows that method name.

    It runs with ``score="iwae"``: scikit-learn's subset-invariance check compares to rtol 1e-7, and the float32
    encoder rounds differently in batches of different sizes (~2e-7 relative), which the steep p-values of the
    ``combined`` score on a 20-row reference amplify past that; ``test_combined_is_subset_invariant_to_rounding``
    checks ``combined`` with a float32 tolerance."""
    det = VAEOutlierDetector(score="iwae", epochs=1, hidden=(8,), latent_dim=2, iw_samples=2, device="cpu",
                             val_fraction=0.0)
    shadowed = {"check_fit_score_takes_y", "check_n_features_in_after_fitting", "check_pipeline_consistency"}
    results = check_estimator(det, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert failed <= shadowed, failed
    assert len([r for r in results if r["status"] == "passed"]) >= 30


@pytest.mark.parametrize("score", ["latent_knn", "latent_density", "combined"])
def test_threshold_flags_about_contamination_of_new_normal_inputs(score):
    # The threshold is a quantile of the training inputs' scores. Scored with their own code in the reference (at
    # distance 0, or under their own mixture component) the training inputs looked more normal than any new normal
    # input, and 0.23-0.79 of new normal digits were flagged at contamination 0.1. Scored leave-one-out they are
    # exchangeable with new inputs, so about 10 % of fresh draws from the same distribution are flagged.
    g = np.random.default_rng(1)
    cov = np.diag([1.0, 4.0, 9.0, 1.0, 1.0])
    train, new = g.multivariate_normal(np.zeros(5), cov, 300), g.multivariate_normal(np.zeros(5), cov, 3000)
    det = VAEOutlierDetector(model="ae", score=score, contamination=0.1, **{**TINY, "epochs": 40, "latent_dim": 4})
    det.fit(train)  # an autoencoder's point-mass codes make the own-code effect plain (old: 0.18, 0.77, 0.14)
    assert det.labels_.mean() == pytest.approx(0.1, abs=0.01)
    assert det.predict(new).mean() == pytest.approx(0.1, abs=0.035)


@pytest.mark.parametrize("score,need", [("combined", 6), ("latent_knn", 6), ("latent_density", 2)])
def test_too_few_inputs_for_a_latent_score_is_refused_before_training(score, need):
    with pytest.raises(DataError, match=f"at least {need} normal inputs to fit; got {need - 1}"):
        VAEOutlierDetector(score=score, **TINY).fit(np.random.default_rng(0).normal(size=(need - 1, 5)))
    VAEOutlierDetector(score=score, **TINY).fit(np.random.default_rng(0).normal(size=(need, 5)))


def test_reading_a_run_with_another_score_keeps_the_saved_detector(fitted, blobs, tmp_path):
    path = fitted.save(tmp_path / "det")
    VAEOutlierDetector.from_run(path, score="kl", X=blobs[0])
    back = VAEOutlierDetector.from_run(path)
    assert back.score == "iwae" and back.threshold_ == fitted.threshold_
