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


def _one_result_per_run(spec, values):
    (spec.output / "results").mkdir(parents=True)
    for run, mig in zip(spec.runs, values):
        (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(
            {"name": run.name, "preset": run.preset, "seed": run.seed, "params": run.params, "train": {"step": 5},
             "metrics": {"mig": mig}}))


def test_summary_md_gives_one_seed_its_value_without_a_spread(tmp_path):
    """One seed has no sample sd; summary.md printed "0.1 ± 0" as if a spread of zero had been measured."""
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0], "metrics": ["mig"],
                                    "models": [{"preset": "beta_vae", "beta": [1, 4]}]}))
    spec = load_study(path)
    _one_result_per_run(spec, (0.1, 0.4))
    md = write_outputs(spec)["summary_md"].read_text()
    assert "| beta_vae-beta1 | 1 | – | 0.1 |" in md and "| beta_vae-beta4 | 1 | – | 0.4 |" in md
    assert "± 0" not in md


def test_metrics_by_model_says_what_the_dots_and_the_black_bar_are(tmp_path, monkeypatch):
    """The by-model plot drew coloured dots and a black bar beside them with no legend: a reader could not tell
    the runs from the mean ± sd."""
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0, 1], "metrics": ["mig"],
                                    "models": [{"preset": "vae"}]}))
    spec = load_study(path)
    _one_result_per_run(spec, (0.1, 0.3))
    made = []
    real = plotting.subplots
    monkeypatch.setattr(plotting, "subplots", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    write_outputs(spec)
    legend = made[0][1].flat[0].get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["one run (seed)", "mean ± sample sd over seeds"]
