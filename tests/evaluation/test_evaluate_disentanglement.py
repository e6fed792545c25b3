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


def test_progress_drives_one_bar_per_sampling_metric_without_changing_scores(monkeypatch):
    """`evaluate --metrics` on dSprites ran for minutes in silence: each sampling metric now moves a bar to its total
    (a fake tqdm here, to count what the metric reports)."""
    from shadowplay.data import groundtruth_for
    from shadowplay.evaluation import disentanglement as mod

    bars = []

    class FakeBar:
        def __init__(self, disable=None, **kw):
            self.disable, self.desc, self.n, self.total, self.closed = bool(disable), kw["desc"], 0, None, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(mod, "tqdm", FakeBar)
    gt = groundtruth_for("dsprites")
    rng = np.random.default_rng(0)
    factors = gt.sample_factors(200, rng)
    weights = rng.standard_normal((64 * 64, 3))

    def encode(x):
        return x.reshape(len(x), -1).double().numpy() @ weights
    codes = encode(gt.observations(factors))
    options = {k: SMALL[k] for k in ("beta_vae", "factor_vae")}
    args = (codes, factors, ["mig", "beta_vae", "factor_vae"], 0, (), gt, encode, options)
    shown = disentanglement_metrics(*args, progress=True)
    assert [b.desc for b in bars] == ["beta_vae score", "factor_vae score"] and all(b.closed for b in bars)
    assert [b.n for b in bars] == [b.total for b in bars] == [2 * 16 * 60, 200 + 16 * 60]
    bars.clear()
    quiet = disentanglement_metrics(*args, progress=False)
    assert all(b.disable and b.n == 0 for b in bars)
    assert json.dumps(quiet.results, sort_keys=True) == json.dumps(shown.results, sort_keys=True)


def test_evaluate_help_documents_metric_options_and_the_slow_scores():
    """`evaluate --help` named neither the cost of the sampling scores nor how to cut it."""
    import argparse

    from shadowplay.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub.choices["evaluate"]._actions}
    assert "The slow ones: the sampling scores beta_vae and factor_vae" in helps["metrics"]
    assert "and dci (100 boosting stages per factor)" in helps["metrics"] and "--metric-options" in helps["metrics"]
    example = json.loads(helps["metric_options"].split("e.g. ", 1)[1].split("'")[1])  # the example is valid JSON
    assert example["beta_vae"] == {"n_train": 2000, "n_eval": 1000} and example["dci"] == {"n_estimators": 10}


@pytest.mark.parametrize("options, message", [
    ({"mig": {"binz": 3}}, "mig has no option 'binz' (did you mean 'bins'?)"),
    ({"sap": {"n_estimators": 3}}, "metric options given for sap, which is not being computed"),
])
def test_a_bad_metric_option_is_one_line_before_any_work(dsprites_run, monkeypatch, capsys, options, message):
    # a misspelt option was a TypeError traceback (exit 1), and only after the likelihoods had been computed
    import shadowplay.api.inspect as inspect_api
    monkeypatch.setattr(inspect_api, "load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["evaluate", str(dsprites_run), "-k", "1", "--metrics", "mig",
                 "--metric-options", json.dumps(options)]) == 2
    assert message in capsys.readouterr().err


def test_metric_options_without_metrics_are_refused(dsprites_run, capsys):
    assert main(["evaluate", str(dsprites_run), "-k", "1", "--metric-options", '{"mig": {"bins": 5}}']) == 2
    assert "--metric-options without --metrics" in capsys.readouterr().err


def test_each_metric_says_how_to_read_it_in_the_table_and_the_report(dsprites_run, capsys):
    # the table printed "factor_vae  score 0.000" with no name, range or chance level, and dropped the metric's note
    assert main(["evaluate", str(dsprites_run), "-k", "1", "--no-progress", "--metrics", "mig,factor_vae",
                 "--metric-options", json.dumps({"factor_vae": SMALL["factor_vae"]})]) == 0
    out = capsys.readouterr().out
    assert "Mutual Information Gap (Chen et al. 2018): 0 to 1, higher is better" in out
    assert "FactorVAE score (Kim & Mnih 2018)" in out and "chance is 1/5 = 0.20" in out
    doc = json.loads((dsprites_run / "evaluation" / "evaluation.json").read_text())
    if doc["metrics"]["factor_vae"]["note"]:
        assert "note: " + doc["metrics"]["factor_vae"]["note"][:40] in out
    from shadowplay.reports.html import render_report
    page = render_report(dsprites_run)
    assert "<h3>Mutual Information Gap (Chen et al. 2018) (<code>mig</code>)</h3>" in page
    assert "chance is 1/5 = 0.20" in page


def test_too_few_points_say_the_mi_matrix_is_mostly_bias():
    # 200 points: a code independent of the factors got I/H ≈ 0.3 for a 40-valued factor in mi_matrix.png, silently
    from shadowplay.evaluation.disentanglement import NOISE_FLOOR_NOTE, mi_noise_floor
    rng = np.random.default_rng(0)
    factors = np.c_[rng.integers(0, 3, 200), rng.integers(0, 40, 200)]
    blind = rng.standard_normal((200, 3))
    res = disentanglement_metrics(blind, factors, ["mig"], factor_names=("shape", "orientation"))
    share = res.mi_matrix / res.factor_entropy
    floor, worst = mi_noise_floor(factors)
    assert worst == 1 and share[:, 1].mean() > 0.2 and share[:, 1].max() < floor  # what the note warns about
    assert any("estimated from 200 points" in n and "H(orientation)" in n for n in res.notes)
    many = np.c_[rng.integers(0, 3, 20_000), rng.integers(0, 4, 20_000)]
    assert mi_noise_floor(many)[0] < NOISE_FLOOR_NOTE
    assert not disentanglement_metrics(rng.standard_normal((20_000, 3)), many, ["mig"]).notes


def test_a_one_latent_model_skips_the_metrics_that_compare_latents(tmp_path, capsys):
    # `--latent-dim 1` then `--metrics all` stopped with "MIG compares code dimensions and needs at least 2", and
    # said nothing of what to do; all means every metric the model allows
    run = api.train(data="dsprites", latent_dim=1, runs_dir=tmp_path, name="one", progress=False,
                    overrides={"data.n_samples": 300, "model.net": "mlp", "model.hidden": [16],
                               "trainer.max_steps": 2}).path
    ev = api.evaluate(run, iw_samples=1, metrics="all", metric_options=SMALL, write=False, progress=False)
    assert list(ev.document["metrics"]) == ["dci", "modularity_explicitness", "beta_vae", "factor_vae"]
    assert "mig, sap, unsupervised skipped: they compare latents with each other and the model has 1" in \
        ev.document["metrics_note"]
    assert main(["evaluate", str(run), "-k", "1", "--metrics", "mig"]) == 2
    assert ("mig compares latents with each other and needs at least 2; this model has 1: ask for dci, "
            "modularity_explicitness, beta_vae, factor_vae, or train with --latent-dim 2 or more"
            ) in capsys.readouterr().err


def test_dci_moves_a_bar_through_its_boosting_stages(monkeypatch):
    # DCI's 100 stages per factor took ~5 minutes on the 2,000 test images of a default dSprites run, with no bar
    from shadowplay.evaluation import disentanglement as mod
    bars = []

    class FakeBar:
        def __init__(self, disable=None, **kw):
            self.disable, self.desc, self.unit, self.n, self.total = bool(disable), kw["desc"], kw["unit"], 0, None
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(mod, "tqdm", FakeBar)
    rng = np.random.default_rng(0)
    factors = np.c_[rng.integers(0, 3, 300), rng.integers(0, 4, 300)]
    codes = factors + 0.3 * rng.standard_normal((300, 2))
    shown = disentanglement_metrics(codes, factors, ["mig", "dci"], options={"dci": {"n_estimators": 4}},
                                    progress=True)
    assert [(b.desc, b.unit, b.n, b.total) for b in bars] == [("dci score", "stage", 8, 8)]  # 2 factors × 4 stages
    quiet = disentanglement_metrics(codes, factors, ["mig", "dci"], options={"dci": {"n_estimators": 4}})
    assert json.dumps(quiet.results, sort_keys=True) == json.dumps(shown.results, sort_keys=True)
    from shadowplay.metrics import dci
    lasso = []
    dci(codes, factors, predictor="lasso", progress=lambda done, total: lasso.append((done, total)))
    assert lasso == [(1, 2), (2, 2)]


def test_slow_metrics_report_progress_when_stderr_is_a_pipe(tmp_path):
    """`evaluate --metrics all` on dSprites printed nothing for minutes into a log (CI, nohup, a study child): the
    metric bars were hidden off a terminal while the training and likelihood bars are not. Now they show there too
    and leave one line per metric with its count and time."""
    import re
    import subprocess
    import sys
    script = tmp_path / "score.py"
    script.write_text(f"""
import time
import numpy as np
from shadowplay.data import groundtruth_for
from shadowplay.evaluation.disentanglement import disentanglement_metrics
gt = groundtruth_for("dsprites")
factors = gt.sample_factors(200, np.random.default_rng(0))
weights = np.random.default_rng(1).standard_normal((64 * 64, 3))

def encode(x):  # a slow encoder: the bar waits 0.5 s before its first frame
    time.sleep(0.01)
    return x.reshape(len(x), -1).double().numpy() @ weights
disentanglement_metrics(encode(gt.observations(factors)), factors, ["beta_vae"], groundtruth=gt, encode=encode,
                        options={{"beta_vae": {SMALL["beta_vae"]!r}}}, progress=True)
""")
    p = subprocess.run([sys.executable, str(script)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    # the bar's final frame is left in the log, ended by a newline: 2 x 16 x 60 encoded observations and the time
    assert re.search(r"beta_vae score: 100%[^\r\n]*1\.92k/1\.92k \[\d\d:\d\d<[^\r\n]*\]\n", p.stderr), p.stderr
