"""The study's table and β plot: the split of the evaluation columns is named, and a β sweep over more than a
decade is drawn on a log axis (β 0.25–16 of examples/rd.yaml bunched at the left of a linear one)."""

from __future__ import annotations

import json

import pytest
import yaml

from shadowplay.reports import plotting
from shadowplay.study import load_study, table, write_outputs
from shadowplay.study.aggregate import beta_axis

BASE = {"data": {"source": "dsprites", "n_samples": 320}, "model": {"latent_dim": 3, "net": "mlp", "hidden": [16]}}


@pytest.mark.parametrize("betas, scale", [([0.25, 1, 4, 16], "log"), ([1, 4, 8], "linear"), ([4], "linear"),
                                          ([0, 0.5, 16], "symlog"), ([0, 4], "linear")])
def test_beta_axis_is_logarithmic_when_beta_spans_more_than_a_decade(betas, scale):
    assert beta_axis(betas)[0] == scale
    if scale == "symlog":
        assert beta_axis(betas)[1] == {"linthresh": 0.5}  # linear only below the smallest positive β


def test_metrics_vs_beta_plot_uses_the_log_axis(tmp_path, monkeypatch):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0], "metrics": ["mig"],
                                    "models": [{"preset": "beta_vae", "beta": [0.25, 1, 4, 16]}]}))
    spec = load_study(path)
    (spec.output / "results").mkdir(parents=True)
    for i, run in enumerate(spec.runs):
        (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(
            {"name": run.name, "preset": run.preset, "seed": 0, "params": run.params, "train": {"step": 5},
             "metrics": {"mig": 0.1 * i, "elbo": -90.0}, "evaluation": {"split": "val"}}))
    made = []
    real = plotting.subplots
    monkeypatch.setattr(plotting, "subplots", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    files = write_outputs(spec)
    assert "vs_beta" in files and files["vs_beta"].stat().st_size > 1000
    vs_beta = made[-1][1].flat[0]
    assert vs_beta.get_xscale() == "log" and made[0][1].flat[0].get_xscale() == "linear"  # by-model: categories
    rows = json.loads(files["results_json"].read_text())
    assert {r["eval_split"] for r in rows} == {"val"}
    assert files["results_csv"].read_text().splitlines()[0].split(",")[-4:] == ["val_elbo", "eval_split", "mig",
                                                                                 "elbo"]


def test_results_of_an_older_study_have_no_eval_split():
    rows, _ = table([{"name": "vae-s0", "preset": "vae", "seed": 0, "metrics": {"elbo": -9.0}}])
    assert rows[0]["eval_split"] is None
