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
    expected = VAEOutlierDetector.from_run(detector_run, device="cpu").decision_function(x.reshape(1, -1).numpy())
    assert doc["outlier_score"] == pytest.approx(float(expected[0]), rel=1e-5)


def test_a_folder_without_a_detector_is_refused(explore_run):
    with pytest.raises(ConfigError, match="holds no outlier detector"):
        api.explore(explore_run, open_browser=False, outliers=explore_run)
