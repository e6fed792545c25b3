"""``explore --outliers``: a detector fitted by ``shadowplay outliers fit`` scores the explored inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shadowplay import api
from shadowplay.errors import ConfigError
from shadowplay.outliers import VAEOutlierDetector
from shadowplay.run import open_run


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory):
    return api.outliers_fit("digits", score="elbo", latent_dim=3, epochs=1, batch_size=64, seed=0, device="cpu",
                            runs_dir=tmp_path_factory.mktemp("det"), name="det", progress=False).path


def test_the_page_shows_the_detectors_score_of_an_input(explore_run, detector_run, raw_request):
    with api.explore(explore_run, open_browser=False, outliers=detector_run) as server:
        assert json.loads(raw_request(server, "GET", "/api/info").body)["has_outlier_score"] is True
        doc = json.loads(raw_request(server, "GET", "/api/input?split=test&index=3").body)
    x = api.load_splits(open_run(explore_run).config).test.x[3:4]  # (1, 1, 8, 8) in [0, 1]
    det = VAEOutlierDetector.from_run(detector_run, device="cpu")
    expected = det.decision_function(x.reshape(1, -1).numpy())
    assert doc["outlier_score"] == pytest.approx(float(expected[0]), rel=1e-5)
    # the threshold saved by `outliers fit` (estimator.json) and the detector's own verdict, as `outliers score`
    assert doc["outlier"]["threshold"] == pytest.approx(det.threshold_) and doc["outlier"]["score_name"] == "elbo"
    assert doc["outlier"]["flagged"] is bool(det.predict(x.reshape(1, -1).numpy())[0])


def test_the_page_names_the_detectors_threshold(explore_run, detector_run, raw_request):
    with api.explore(explore_run, open_browser=False, outliers=detector_run) as server:
        info = json.loads(raw_request(server, "GET", "/api/info").body)
    det = VAEOutlierDetector.from_run(detector_run, device="cpu")
    assert info["outlier_detector"]["threshold"] == pytest.approx(det.threshold_)
    assert info["outlier_detector"]["contamination"] == det.contamination
    assert info["outlier_detector"]["source"] == str(detector_run) and info["outlier_hint"] is None


def test_a_table_runs_rows_reach_the_detector_on_their_own_scale(tmp_path, raw_request):
    # A CSV run's inputs are standardized; the detector standardizes raw rows itself. The explorer passed the
    # standardized rows, so they were standardized twice and every table input got a meaningless score.
    rng = np.random.default_rng(0)
    table = rng.normal([100.0, -5.0, 0.0], [20.0, 1.0, 3.0], size=(60, 3))
    csv = tmp_path / "t.csv"
    np.savetxt(csv, table, delimiter=",", header="a,b,c", comments="", fmt="%.6f")
    run = api.train(data=str(csv), latent_dim=2, runs_dir=tmp_path, name="t", progress=False,
                    overrides={"trainer.max_steps": 3, "model.hidden": [8]}).path
    det_run = api.outliers_fit(str(csv), score="elbo", latent_dim=2, epochs=1, seed=0, device="cpu",
                               runs_dir=tmp_path, name="det", progress=False,
                               overrides={"model.hidden": [8]}).path
    with api.explore(run, open_browser=False, outliers=det_run) as server:
        doc = json.loads(raw_request(server, "GET", "/api/input?split=test&index=0").body)
    rows = api.load_splits(open_run(run).config).test
    raw = rows.x[:1].double().numpy() * np.asarray(rows.meta["standardize"]["std"]) + rows.meta["standardize"]["mean"]
    det = VAEOutlierDetector.from_run(det_run, device="cpu")
    assert doc["outlier_score"] == pytest.approx(float(det.decision_function(raw)[0]), rel=1e-5)


def test_a_folder_without_a_detector_is_refused(explore_run):
    with pytest.raises(ConfigError, match="holds no outlier detector"):
        api.explore(explore_run, open_browser=False, outliers=explore_run)
