"""The shared estimator base: scikit-learn's parameter protocol, input checks (NaN rows named, feature count,
not fitted), training from arrays through the library's trainer, and save / load through a run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SkNotFittedError

import shadowplay as sp
from shadowplay.errors import ConfigError, DataError, ShadowplayError
from shadowplay.sklearn import ESTIMATOR_FILE, LatentEstimator, NotFittedError, VAEEmbedding


def test_params_round_trip_and_clone(fast):
    est = VAEEmbedding(n_components=3, model="beta_vae", beta=2.0, **fast)
    params = est.get_params()
    assert params["n_components"] == 3 and params["model"] == "beta_vae" and params["beta"] == 2.0
    assert "latent_dim" not in params  # the subclass names the latent size like PCA
    est.set_params(n_components=5, lr=3e-4)
    assert est.n_components == 5 and est.lr == 3e-4
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    base = LatentEstimator(latent_dim=4)
    assert base.get_params()["latent_dim"] == 4


def test_fit_returns_self_and_trains_through_the_library_trainer(data, fast):
    x, _ = data
    est = VAEEmbedding(n_components=2, **fast)
    assert est.fit(x) is est
    assert est.n_features_in_ == 10 and est.input_shape_ == (10,)
    assert est.n_steps_ == 2 * 5 and est.n_epochs_ == 2  # 144 train rows (val 10%) / 32 per batch = 5 steps
    assert est.config_.model.preset == "vae" and est.config_.model.latent_dim == 2
    assert np.isfinite(est.val_metrics_["elbo"])
    assert est.run_dir_ is None  # trained in a temporary folder


def test_the_same_seed_gives_the_same_model(data, fast):
    x, _ = data
    a = VAEEmbedding(n_components=2, seed=3, **fast).fit(x).transform(x)
    b = VAEEmbedding(n_components=2, seed=3, **fast).fit(x).transform(x)
    assert np.array_equal(a, b)


def test_not_fitted_is_both_error_kinds(data):
    x, _ = data
    est = VAEEmbedding()
    for call in (lambda: est.transform(x), lambda: est.inverse_transform(np.zeros((2, 10))),
                 lambda: est.save("nowhere")):
        with pytest.raises(NotFittedError, match="not fitted yet") as e:
            call()
        assert isinstance(e.value, SkNotFittedError) and isinstance(e.value, ShadowplayError)


def test_nan_rows_are_named(data, fast):
    x, _ = data
    bad = x.copy()
    bad[3, 1] = np.nan
    bad[7, 0] = np.inf
    with pytest.raises(DataError, match=r"2 row\(s\) \(3, 7\)"):
        VAEEmbedding(**fast).fit(bad)
    est = VAEEmbedding(n_components=2, **fast).fit(x)
    with pytest.raises(DataError, match=r"1 row\(s\) \(3\)"):
        est.transform(np.where(np.arange(len(x))[:, None] == 3, np.nan, x))
    many = x.copy()
    many[::2, 0] = np.nan
    with pytest.raises(DataError, match=r"80 row\(s\) \(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, \.\.\.\)"):
        est.transform(many)


def test_feature_count_must_match_fit(data, fast):
    x, _ = data
    est = VAEEmbedding(n_components=2, **fast).fit(x)
    with pytest.raises(DataError, match="X has 7 features, but VAEEmbedding is expecting 10 features as input"):
        est.transform(x[:, :7])


def test_bad_parameters_fail_in_fit_with_the_key(data, fast):
    x, _ = data
    with pytest.raises(ConfigError, match="trainer.epochs"):
        VAEEmbedding(**{**fast, "epochs": 0}).fit(x)
    with pytest.raises(ShadowplayError, match="preset|unknown"):
        VAEEmbedding(model="no_such_model", **fast).fit(x)
    with pytest.raises(DataError, match=r"input_shape=\(1, 3, 3\) holds 9 values but X has 10"):
        VAEEmbedding(input_shape=(1, 3, 3), **fast).fit(x)
    with pytest.raises(ConfigError, match="did you mean"):
        VAEEmbedding(overrides={"trainer.weight_decai": 1e-4}, **fast).fit(x)


def test_save_and_from_run_without_pickle(data, fast, tmp_path):
    x, _ = data
    est = VAEEmbedding(n_components=3, **fast).fit(x)
    path = est.save(tmp_path / "emb")
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert files == ["checkpoints/step-000000010.safetensors", "config.yaml", ESTIMATOR_FILE, "run.json"]
    doc = json.loads((path / ESTIMATOR_FILE).read_text())
    assert doc["estimator"] == "VAEEmbedding" and doc["params"]["n_components"] == 3 and doc["n_features_in"] == 10
    back = VAEEmbedding.from_run(path, device="cpu")
    assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.transform(x), est.transform(x))
    np.testing.assert_array_equal(back.inverse_transform(est.transform(x)), est.inverse_transform(est.transform(x)))
    assert sp.load(path).latent_dim == 3  # the library reads it as a run
    with pytest.raises(ShadowplayError, match="already exists"):
        est.save(path)
    assert est.save(path, overwrite=True) == path


def test_runs_dir_keeps_a_complete_run(data, fast, tmp_path):
    x, _ = data
    est = VAEEmbedding(n_components=2, runs_dir=tmp_path / "runs", **fast).fit(x)
    run = est.run_dir_
    assert run.parent == tmp_path / "runs" and (run / "metrics.jsonl").is_file() and (run / ESTIMATOR_FILE).is_file()
    assert sp.info(run).epoch == 2
    np.testing.assert_array_equal(VAEEmbedding.from_run(run, device="cpu").transform(x), est.transform(x))
    copy = est.save(tmp_path / "copy")
    assert (copy / "metrics.jsonl").is_file()  # the whole run is copied, resumable
    assert est.save(run) == run  # in place: only the estimator file is rewritten


def test_from_run_of_a_cli_run(tmp_path, tiny_flat):
    run = sp.train(data=str(tiny_flat), model="vae", latent_dim=3, epochs=1, runs_dir=tmp_path, name="r",
                   progress=False, overrides=["model.hidden=[16]"])
    est = VAEEmbedding.from_run(run.path, device="cpu")
    assert est.n_components == 3 and est.input_shape == (1, 8, 8) and est.n_features_in_ == 64
    x = np.load(tiny_flat).reshape(320, 64)
    z = est.transform(x)
    assert z.shape == (320, 3)
    model = sp.load(run.path)
    np.testing.assert_allclose(z, model.encode(x.reshape(-1, 1, 8, 8).astype(np.float32)).mean.detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_scikit_learn_estimator_checks():
    """scikit-learn's own conformance suite (47 checks on a one-epoch model). The one allowed failure: a float32
    batched matrix product rounds differently for a subset of the rows (differences ~1e-6 relative, above the
    check's 1e-7)."""
    from sklearn.utils.estimator_checks import check_estimator

    est = VAEEmbedding(n_components=2, hidden=(8,), epochs=1, batch_size=32, device="cpu", val_fraction=0.0)
    allowed = {"check_methods_subset_invariance": "float32 rounding of batched products differs by ~1e-6"}
    results = check_estimator(est, on_fail=None, expected_failed_checks=allowed)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 44


def test_default_epochs_follow_trains_auto_rule(data, fast):
    # A fixed 30 epochs was the default: on 144 training rows in batches of 128 that is 60 steps, after which the
    # posterior had collapsed. epochs=None is train's rule (config.auto_epochs: 30, or enough for 1,000 steps).
    from shadowplay.config import AUTO_MIN_STEPS, auto_epochs
    assert VAEEmbedding().get_params()["epochs"] is None and LatentEstimator().get_params()["epochs"] is None
    x, _ = data
    emb = VAEEmbedding(n_components=2, **{**fast, "epochs": None, "batch_size": 16}).fit(x)
    n_train = len(x) - round(0.1 * len(x))
    assert emb.config_.trainer.epochs == emb.n_epochs_ == auto_epochs(n_train, 16) == 112
    assert emb.n_steps_ == 112 * 9 >= AUTO_MIN_STEPS
    assert VAEEmbedding(n_components=2, **fast).fit(x).n_epochs_ == 2  # an explicit epochs still wins


def test_collapse_advice_speaks_the_estimators_keywords(data, fast):
    # the advice after a posterior collapse named command-line options (--likelihood, --epochs) to Python users
    from shadowplay.workflow import PosteriorCollapseWarning
    with pytest.warns(PosteriorCollapseWarning) as caught:
        VAEEmbedding(n_components=2, **{**fast, "epochs": 1}).fit(data[0])
    advice = [str(w.message) for w in caught if str(w.message).startswith("what to try")]
    assert len(advice) == 1 and "--" not in advice[0]
    assert 'likelihood="gaussian", overrides={"model.scale": 0.1}' in advice[0] and "(epochs=)" in advice[0]


def test_evaluate_with_a_new_file_scores_an_estimator_run_on_its_training_scale(data, fast, tmp_path):
    # An estimator's run records test_fraction 0: `evaluate --data FILE` once failed with "the test split of
    # 'x.npy' is empty"; it now scores every row of a new file. A detector that standardized its arrays keeps the
    # statistics in its estimator file, which evaluate and embed did not read: they fed raw rows to a model trained
    # on standardized ones (ELBO -122 instead of -9 nats on a 6-column example), or refused a saved detector's run
    # as "not a standardized CSV dataset".
    from shadowplay.evaluation import per_sample_likelihoods
    from shadowplay.outliers import VAEOutlierDetector

    np.save(tmp_path / "unit.npy", data[0][:60].astype(np.float32))
    VAEEmbedding(n_components=2, **fast).fit(data[0]).save(tmp_path / "emb")
    ev = sp.evaluate(tmp_path / "emb", data=str(tmp_path / "unit.npy"), iw_samples=2, write=False, progress=False)
    assert ev.document["split"] == "all" and ev.document["n_inputs"] == 60
    x = data[0][:60] * 5.0 + 3.0
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    det = VAEOutlierDetector(outlier_score="recon", latent_dim=2, runs_dir=tmp_path / "kept", **fast).fit(x)
    for run in (det.run_dir_, det.save(tmp_path / "det")):  # kept under runs_dir, and saved weights-only
        ev = sp.evaluate(run, data=str(tmp_path / "x.npy"), iw_samples=2, write=False, progress=False)
        expected = per_sample_likelihoods(det.model_, det._inputs(x), iw_samples=2, seed=0).elbo
        np.testing.assert_allclose(ev.likelihoods.elbo, expected, rtol=1e-5)
        codes = sp.embed(run, data=str(tmp_path / "x.npy")).codes
        np.testing.assert_allclose(codes, det._encode(det._rows(x))[0], rtol=1e-5, atol=1e-6)


def test_a_bernoulli_model_refuses_inputs_outside_the_unit_interval(data, fast):
    # the encoder only saw [0, 1]: 8-bit images (0..255) used to get codes and a "score" without a word
    x, _ = data
    est = VAEEmbedding(n_components=2, **fast).fit(x)
    assert est.model_.spec.likelihood == "bernoulli"
    raw = x.copy()
    raw[4] *= 255
    for call in (est.transform, est.score, est.score_samples):
        with pytest.raises(DataError, match=r"X has values outside \[0, 1\] in 1 row\(s\) \(4\) .*Bernoulli"):
            call(raw)
    gaussian = VAEEmbedding(n_components=2, likelihood="gaussian", **fast).fit(x)
    assert gaussian.transform(raw).shape == (len(x), 2)  # a Gaussian model takes any real values


def test_fit_names_the_estimator_keyword_for_a_bernoulli_likelihood_on_real_data(data, fast):
    x, _ = data
    with pytest.raises(DataError, match=r'Bernoulli likelihood needs data in \[0, 1\]; the values of X .*'
                                        r'likelihood="gaussian"'):
        VAEEmbedding(likelihood="bernoulli", **fast).fit(x * 16)


def test_one_dimensional_inputs_fail_with_one_line(data, fast):
    # scikit-learn's own message printed the whole array over many lines
    x, _ = data
    est = VAEEmbedding(n_components=2, **fast).fit(x)
    for call, arg, msg in ((est.transform, x[0], r"X is 1-D, shape \(10,\); give a 2-D array \(n_samples, "
                                                 r"n_features\)"),
                           (VAEEmbedding(**fast).fit, x[:, 0], r"X is 1-D, shape \(160,\)"),
                           (est.inverse_transform, np.zeros(2), r"is 1-D, shape \(2,\); give a 2-D array "
                                                                r"\(n_samples, n_components\)")):
        with pytest.raises(DataError, match=msg) as e:
            call(arg)
        assert "\n" not in str(e.value)


def test_collapse_warnings_point_at_the_users_fit_line(data, fast):
    # they pointed at shadowplay/workflow/training_run.py: a fixed stacklevel counted from the wrong depth
    import warnings

    from sklearn.pipeline import make_pipeline

    from shadowplay.outliers import VAEOutlierDetector
    from shadowplay.workflow import PosteriorCollapseWarning
    one = {**fast, "epochs": 1}
    fits = {"fit": lambda: VAEEmbedding(n_components=2, **one).fit(data[0]),
            "fit_transform": lambda: VAEEmbedding(n_components=2, **one).fit_transform(data[0]),
            "pipeline": lambda: make_pipeline(VAEEmbedding(n_components=2, **one)).fit(data[0]),
            "detector": lambda: VAEOutlierDetector(outlier_score="recon", latent_dim=2, **one).fit(data[0])}
    for how, fit in fits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        collapse = [w for w in caught if issubclass(w.category, PosteriorCollapseWarning)]
        assert collapse, how
        assert {w.filename for w in collapse} == {__file__}, how
