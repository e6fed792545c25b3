"""``shadowplay evaluate --metrics``: disentanglement metrics when the data have factors, the MI heat map, and a
note instead of an error for ``all`` on data without factors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shadowplay import api
from shadowplay.cli import main
from shadowplay.errors import ConfigError
from shadowplay.evaluation.disentanglement import disentanglement_metrics, resolve_metric_names
from shadowplay.metrics import METRIC_NAMES, discretize, mutual_info_matrix

SMALL = {"factor_vae": {"n_train": 40, "n_eval": 20, "n_variance_estimate": 200, "batch_size": 16},
         "beta_vae": {"n_train": 40, "n_eval": 20, "batch_size": 16}, "dci": {"n_estimators": 3}}


@pytest.fixture(scope="module")
def dsprites_run(tmp_path_factory):
    return api.train(data="dsprites", model="beta_vae", latent_dim=3, runs_dir=tmp_path_factory.mktemp("runs"),
                     name="dsp", progress=False, overrides={"data.n_samples": 300, "model.net": "mlp",
                                                            "model.hidden": [16], "trainer.max_steps": 3}).path


def test_all_metrics_and_the_mi_heat_map(dsprites_run, capsys):
    assert main(["evaluate", str(dsprites_run), "--iw-samples", "1", "--metrics", "all", "--checkpoint", "last",
                 "--metric-options", json.dumps(SMALL)]) == 0
    out = capsys.readouterr().out
    assert "mig" in out and "factor_vae" in out and "mi_matrix.png" in out
    doc = json.loads((dsprites_run / "evaluation" / "evaluation.json").read_text())
    assert list(doc["metrics"]) == list(METRIC_NAMES)
    assert doc["metrics"]["factor_vae"]["n_train"] == 40 and doc["metrics"]["dci"]["n_train"] > 0
    mi = np.array(doc["mi_matrix"]["nats"])
    assert mi.shape == (3, 5) and doc["mi_matrix"]["factor_names"][0] == "shape"
    assert np.allclose(mi, doc["metrics"]["mig"]["mi_matrix"])
    assert (dsprites_run / "evaluation" / "mi_matrix.png").stat().st_size > 2000
    from shadowplay.reports.html import render_report
    assert "Mutual information between each latent" in render_report(dsprites_run)  # the report shows the map


def test_mi_matrix_without_mig_is_computed_the_same_way():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(500, 2))
    codes = np.c_[factors[:, 1] + 0.1 * rng.standard_normal(500), rng.standard_normal(500)]
    res = disentanglement_metrics(codes, factors, ["sap"], factor_names=("a", "b"))
    assert list(res.results) == ["sap"] and res.factor_names == ("a", "b")
    assert np.allclose(res.mi_matrix, mutual_info_matrix(discretize(codes), factors))
    assert res.mi_matrix[0, 1] > 1.0 > res.mi_matrix[1, 1]  # z0 carries factor b (≈ log 4 nats)


def test_all_on_data_without_factors_is_a_note_but_a_named_metric_is_an_error(vae_run):
    ev = api.evaluate(vae_run, iw_samples=1, metrics=["all"], write=False)
    assert "metrics" not in ev.document and "no ground-truth factors" in ev.document["metrics_note"]
    as_text = api.evaluate(vae_run, iw_samples=1, metrics="all", write=False)  # the CLI's spelling works too
    assert as_text.document["metrics_note"] == ev.document["metrics_note"]
    with pytest.raises(ConfigError, match="ground-truth factors"):
        api.evaluate(vae_run, iw_samples=1, metrics=["sap"], write=False)


def test_sampling_metrics_need_a_generator():
    assert resolve_metric_names(["all"], sampling_available=False)[1:] == (
        [], ["beta_vae, factor_vae skipped: the data have no ground-truth generator"])
    with pytest.raises(ConfigError, match="ground-truth generator"):
        resolve_metric_names(["factor_vae"], sampling_available=False)
    with pytest.raises(ConfigError, match="unknown metric 'migg'"):
        resolve_metric_names(["migg"], sampling_available=True)
