"""``shadowplay study``: grid expansion, the aggregated table, and kill-and-restart behaviour end to end.

The end-to-end test runs a 2-preset grid (β-VAE β=4 for 10 steps, β-TCVAE β=6 for 120 steps) on 320 procedural
dSprites images with a tiny MLP, kills the study with SIGKILL once the second run has a checkpoint at step ≥ 40, and
starts it again: the finished run is skipped (its files are untouched), the half-done one resumes from its
checkpoint, and a third call has nothing left to do.
"""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml

import shadowplay.api as api
from shadowplay.config import set_keys
from shadowplay.errors import ConfigError
from shadowplay.study import load_study, summarize, table, write_outputs

BASE = {"data": {"source": "dsprites", "n_samples": 320},
        "model": {"latent_dim": 3, "net": "mlp", "hidden": [32]},
        "trainer": {"batch_size": 32, "epochs": 1000, "log_every": 10}}


def _write(folder: Path, doc: dict) -> Path:
    p = folder / "study.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p

def _finished_study(tmp_path: Path, doc: dict, metrics: dict):
    """The one-run study ``doc`` as a finished run leaves it: its config and a results file with ``metrics``,
    evaluated with the study's current settings. Returns ``(spec, run)``."""
    from shadowplay.study.evaluate_step import evaluation_settings

    spec = load_study(_write(tmp_path, doc))
    (run,) = spec.runs
    for sub in ("configs", "results"):
        (spec.output / sub).mkdir(parents=True)
    (spec.output / "configs" / f"{run.name}.yaml").write_text(yaml.safe_dump(run.config.to_dict(), sort_keys=False))
    (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(
        {"name": run.name, "preset": run.preset, "seed": 0, "params": {}, "metrics": metrics,
         "evaluation": evaluation_settings(spec)}))
    return spec, run



def test_grid_expands_into_named_validated_runs(tmp_path):
    spec = load_study(_write(tmp_path, {
        "output": "out", "base": BASE, "seeds": [0, 2], "metrics": ["mig"],
        "models": [{"preset": "beta_vae", "beta": [1, 4]},
                   {"preset": "dip_vae_i", "extra.lambda_od": [2.5], "trainer.lr": 3e-4},
                   {"preset": "beta_tcvae", "extra": {"estimator": "mws"}}]}))
    assert spec.output == tmp_path / "out"
    assert [r.name for r in spec.runs] == [
        "beta_vae-beta1-s0", "beta_vae-beta1-s2", "beta_vae-beta4-s0", "beta_vae-beta4-s2",
        "dip_vae_i-lambda_od2.5-lr0.0003-s0", "dip_vae_i-lambda_od2.5-lr0.0003-s2",
        "beta_tcvae-estimatormws-s0", "beta_tcvae-estimatormws-s2"]
    dip = spec.runs[5].config
    assert dip.model.preset == "dip_vae_i" and dip.objective.extra == {"lambda_od": 2.5}
    assert dip.trainer.lr == 3e-4 and dip.trainer.seed == 2 and dip.data.n_samples == 320
    assert spec.runs[2].config.objective.beta == 4.0
    all_metrics = load_study(_write(tmp_path, {"base": BASE, "models": [{"preset": "vae"}], "metrics": "all"}))
    assert all_metrics.metrics[-1] == "factor_vae"


def test_runs_over_seeds_share_one_test_set(tmp_path):
    """Seeds vary trainer.seed only; the split and the drawn dSprites subset follow data.seed, so every seed of a
    study is scored on the same test images (and a different data.seed draws other ones)."""
    spec = load_study(_write(tmp_path, {"base": BASE, "seeds": [0, 2], "models": [{"preset": "vae"}]}))
    a, b = (api.load_splits(r.config) for r in spec.runs)
    assert spec.runs[0].config.trainer.seed != spec.runs[1].config.trainer.seed
    for part in ("train", "val", "test"):
        assert torch.equal(a.get(part).x, b.get(part).x) and np.array_equal(a.get(part).factors, b.get(part).factors)
    other = api.load_splits(set_keys(spec.runs[0].config, {"data.seed": 1}))
    assert not np.array_equal(other.test.factors, a.test.factors)


@pytest.mark.parametrize("doc, match", [
    ({"models": [{"preset": "beta_vae", "betta": [1]}]}, "did you mean 'beta'"),
    ({"models": [{"preset": "beta_vae"}, {"preset": "beta_vae"}]}, "more than once"),
    ({"models": [{"preset": "beta_vea"}]}, "unknown model"),
    ({"models": [{"preset": "vae", "trainer.seed": 3}]}, "seeds"),
    ({"models": [{"preset": "vae"}], "metrics": ["migg"]}, "did you mean 'mig'"),
    ({"models": [{"preset": "vae", "trainer.lr": [-1]}]}, "trainer.lr must be > 0"),
    ({"model": []}, "did you mean 'models'"),
    # what each run's `train` refuses in its objective used to fail that run only when it started
    ({"models": [{"preset": "vae"}, {"preset": "beta_vae", "tc_weight": 5}]},
     r"run beta_vae-tc_weight5-s0: the beta_vae preset does not use objective.tc_weight=5.0"),
    ({"models": [{"preset": "beta_tcvae", "extra": {"estimater": "mss"}}]},
     r"run beta_tcvae-estimatermss-s0: objective.extra key\(s\) estimater .*\(did you mean 'estimator'\?\)"),
])
def test_bad_study_files_fail_before_anything_runs(tmp_path, doc, match):
    with pytest.raises(ConfigError, match=match):
        load_study(_write(tmp_path, doc))
    assert not (tmp_path / "study").exists()


def test_table_and_summary_over_seeds():
    results = [{"name": f"beta_vae-beta4-s{s}", "preset": "beta_vae", "seed": s, "params": {"beta": 4},
                "train": {"step": 10, "val": {}}, "metrics": {"mig": m}} for s, m in enumerate([0.1, 0.3])]
    rows, metrics = table(results)
    assert rows[1] == {"name": "beta_vae-beta4-s1", "model": "beta_vae-beta4", "preset": "beta_vae", "seed": 1,
                       "beta": 4, "step": 10, "val_elbo": None, "eval_split": None, "mig": 0.3}
    (s,) = summarize(rows, metrics)
    assert s["n"] == 2 and math.isclose(s["mig.mean"], 0.2) and math.isclose(s["mig.std"], math.sqrt(0.02))


def test_outputs_from_results_files_include_metric_vs_beta(tmp_path):
    spec = load_study(_write(tmp_path, {"base": BASE, "seeds": [0, 1], "metrics": ["mig"],
                                        "models": [{"preset": "beta_vae", "beta": [1, 4]}, {"preset": "vae"}]}))
    (spec.output / "results").mkdir(parents=True)
    for i, run in enumerate(spec.runs[:-1]):  # the last run "has not finished": it is left out, not an error
        doc = {"name": run.name, "preset": run.preset, "seed": run.seed, "params": run.params,
               "train": {"step": 5, "val": {"elbo": -100.0 - i}}, "metrics": {"mig": 0.1 * i, "elbo": -90.0}}
        (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(doc))
    files = write_outputs(spec)
    assert {"by_model", "vs_beta", "summary_csv", "results_csv"} <= set(files)
    summary = json.loads(files["summary_json"].read_text())
    assert [(s["model"], s["n"]) for s in summary] == [("beta_vae-beta1", 2), ("beta_vae-beta4", 2), ("vae", 1)]
    assert math.isclose(summary[1]["mig.mean"], 0.25) and summary[2]["mig.std"] == 0.0
    assert len(files["results_csv"].read_text().splitlines()) == 1 + 5


def _wait_for(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _ckpt_steps(run: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("step-*.safetensors")]


def test_study_end_to_end_survives_a_kill_and_restart(tmp_path, cli_spawn):
    doc = {"output": "out", "base": BASE, "seeds": [0], "metrics": ["mig"], "evaluation": {"split": "val"},
           "models": [{"preset": "beta_vae", "beta": [4], "trainer.max_steps": 10},
                      {"preset": "beta_tcvae", "beta": [6], "trainer.max_steps": 120,
                       "trainer.checkpoint_every": 40}]}
    path = _write(tmp_path, doc)
    out = tmp_path / "out"
    names = [r.name for r in load_study(path).runs]
    assert names == ["beta_vae-beta4-max_steps10-s0", "beta_tcvae-beta6-checkpoint_every40-max_steps120-s0"]
    first, second = out / "results" / f"{names[0]}.json", out / "runs" / names[1]

    proc = cli_spawn("study", str(path), "--jobs", "1", log="study1")
    try:
        _wait_for(lambda: first.is_file() and max(_ckpt_steps(second), default=0) >= 40, 120,
                  "the first run's results and a checkpoint of the second run at step 40 or later")
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "the study's children outlived it"
    killed_at = max(_ckpt_steps(second))
    assert 40 <= killed_at < 120
    done_before = first.read_text()
    first_mtime = first.stat().st_mtime_ns
    assert not (out / "results" / f"{names[1]}.json").exists()

    res = api.study(path, jobs=1, progress=False)
    assert [r.status for r in res.records] == ["skipped", "done"]
    assert first.read_text() == done_before and first.stat().st_mtime_ns == first_mtime
    train_log = (out / "logs" / f"{names[1]}.train.log").read_text()
    assert train_log.count("$ shadowplay train") == 1 and train_log.count("$ shadowplay resume") == 1
    assert (out / "logs" / f"{names[0]}.train.log").read_text().count("$ shadowplay") == 1
    recs = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in recs if r["split"] == "train"]
    restarts = [b for a, b in zip(steps, steps[1:]) if b <= a]
    assert steps[-1] == 120 and all(b > killed_at for b in restarts)  # resumed from its checkpoint, not step 0
    result = json.loads((out / "results" / f"{names[1]}.json").read_text())
    assert result["train"]["step"] == 120 and 0.0 <= result["metrics"]["mig"] <= 1.0

    rows = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in rows] == names
    assert all(isinstance(r["mig"], float) for r in rows)
    assert (out / "summary.csv").read_text().startswith("model,preset,n,")
    assert (out / "plots" / "metrics_by_model.png").stat().st_size > 1000

    again = api.study(path, jobs=2, progress=False)
    assert [r.status for r in again.records] == ["skipped", "skipped"]


def test_a_typo_in_net_or_likelihood_fails_when_the_study_file_is_read(tmp_path):
    """model.net/model.likelihood are checked where used (not in config), and a study checks them up front."""
    for key, value in (("likelihood", "bernouli"), ("net", "cnn")):
        f = tmp_path / f"{key}.yaml"
        f.write_text(f"models:\n  - {{preset: vae, {key}: {value}}}\n")
        with pytest.raises(ConfigError, match=f"model.{key}='{value}' is not one of auto"):
            load_study(f)


DIGITS = {"data": {"source": "digits", "n_samples": 300}, "model": {"latent_dim": 3, "hidden": [32]},
          "trainer": {"max_steps": 5, "batch_size": 32}}


@pytest.mark.parametrize("doc, match", [
    ({"base": DIGITS, "metrics": ["mig"]}, "metric mig needs ground-truth factors, and the data 'digits' "
                                           r"\(run beta_vae-beta1-s0\) have none"),
    ({"base": DIGITS}, "the default metrics mig, dci need ground-truth factors.*set `metrics: \\[\\]`"),
    ({"base": DIGITS, "metrics": "all"}, "metrics mig, sap, .*factor_vae need ground-truth factors"),
    ({"base": BASE, "metrics": ["mig"], "models": [{"preset": "beta_vae", "beta": [1]},  # one entry's own data
                                                   {"preset": "vae", "data.source": "digits"}]},
     r"metric mig needs .* 'digits' \(run vae-sourcedigits-s0\)"),
    ({"base": {**BASE, "data": {"source": "{factors_npz}"}}, "metrics": ["mig", "factor_vae"]},
     "factor_vae samples its own observations from a ground-truth generator, and the data .*factors.npz.* have "
     r"none \(.*appears more than once"),
])
def test_metrics_the_data_cannot_give_fail_before_anything_trains(tmp_path, doc, match):
    """A study with `metrics: [mig]` on digits trained every run and failed only at the evaluate step."""
    rng = np.random.default_rng(0)  # images with integer factors, but not every combination of them
    np.savez(tmp_path / "factors.npz", x=rng.random((40, 8)).astype(np.float32), factors=rng.integers(0, 3, (40, 2)))
    doc = json.loads(json.dumps({"models": [{"preset": "beta_vae", "beta": [1, 4]}], "seeds": [0], **doc})
                     .replace("{factors_npz}", str(tmp_path / "factors.npz")))
    with pytest.raises(ConfigError, match=match):
        api.study(_write(tmp_path, doc), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["factors.npz", "study.yaml"]  # no output, no run folder


def test_metrics_on_data_with_factors_pass_and_empty_metrics_need_none(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.random((40, 8)).astype(np.float32), factors=rng.integers(0, 3, (40, 2)))
    assert load_study(_write(tmp_path, {"base": {"data": {"source": str(tmp_path / "f.npz")}}, "metrics": ["mig"],
                                        "models": [{"preset": "vae"}]})).metrics == ("mig",)
    assert load_study(_write(tmp_path, {"base": DIGITS, "metrics": [], "models": [{"preset": "vae"}]})).metrics == ()
    # a data file this machine cannot see (e.g. only on a Ray cluster's shared disk) is left to the evaluate step
    far = load_study(_write(tmp_path, {"base": {"data": {"source": "/cluster/only/dsprites.npz"}},
                                       "metrics": ["mig", "beta_vae"], "models": [{"preset": "vae"}]}))
    assert far.metrics == ("mig", "beta_vae")


def test_beta_curves_keep_grid_points_apart(tmp_path):
    """Runs that differ in another value than β (here latent_dim) are two curves of metrics_vs_beta and of the
    rate–distortion plot; they used to be pooled per preset, averaging latent_dim 2 and 3 as if they were seeds."""
    from shadowplay.study.aggregate import beta_curves, beta_sweeps
    from shadowplay.study.rate_distortion import rate_distortion_rows, rd_figure

    spec = load_study(_write(tmp_path, {"base": BASE, "seeds": [0, 1], "metrics": ["mig"],
                                        "models": [{"preset": "beta_vae", "beta": [1, 4], "latent_dim": [2, 3]},
                                                   {"preset": "beta_vae", "beta": 8, "trainer.lr": 1e-4}]}))
    mig = {r.name: r.config.model.latent_dim + r.config.objective.beta / 100 + r.seed / 1000 for r in spec.runs}
    rows = [{"name": r.name, "preset": r.preset, "seed": r.seed, "mig": mig[r.name], "rate": mig[r.name],
             "distortion": 10.0 * r.config.model.latent_dim} for r in spec.runs]
    sweeps = beta_sweeps(spec.runs)
    curves = beta_curves(rows, sweeps, "mig")
    assert set(curves) == {"beta_vae-latent_dim2", "beta_vae-latent_dim3"}  # β = 8 alone is no curve
    (b1, v1), (b4, v4) = curves["beta_vae-latent_dim3"]
    assert (b1, b4) == (1.0, 4.0) and np.allclose(v1, [3.01, 3.011]) and np.allclose(v4, [3.04, 3.041])
    rd = rate_distortion_rows(rows, {r.name: r.config.objective.beta for r in spec.runs},
                              {n: c for n, (c, _) in sweeps.items()})
    lines = [ln for ln in rd_figure(rd).axes[0].lines if not ln.get_label().startswith("_")]
    assert sorted(ln.get_label() for ln in lines) == ["beta_vae-latent_dim2", "beta_vae-latent_dim3",
                                                       "beta_vae-lr0.0001"]  # one β: one labelled point
    dim2 = next(ln for ln in lines if ln.get_label() == "beta_vae-latent_dim2")
    assert list(dim2.get_xdata()) == [20.0, 20.0]  # the mean distortion of latent_dim 2 alone, not pooled with 3


def test_a_study_file_edited_under_finished_runs_is_refused(tmp_path):
    """Editing the base config and starting the study again used to skip every finished run silently (they keep
    their old config and numbers) while configs/<run>.yaml was overwritten with the new one."""
    from shadowplay.study import StudyRunner

    doc = {"output": "out", "base": BASE, "seeds": [0], "metrics": ["mig"], "models": [{"preset": "beta_vae"}]}
    spec, run = _finished_study(tmp_path, doc, {"mig": 0.1})
    assert [r.status for r in StudyRunner(spec, log=lambda m: None).run()] == ["skipped"]  # unchanged: skipped
    doc["base"] = {**BASE, "trainer": {**BASE["trainer"], "epochs": 7}}
    changed = load_study(_write(tmp_path, doc))
    with pytest.raises(ConfigError, match=r"beta_vae-s0 .* another config \(trainer.epochs: 1000 → 7\).*--output"):
        StudyRunner(changed, log=lambda m: None).run()
    assert yaml.safe_load((spec.output / "configs" / f"{run.name}.yaml").read_text())["trainer"]["epochs"] == 1000


def test_finished_runs_are_not_evaluated_again_when_no_number_would_change(tmp_path):
    """Each metric has its own seeded stream, so listing the metrics in another order, dropping one or writing an
    option at its default changes no number; each used to evaluate every finished run again (here: no trained run to
    evaluate, so the old code failed it)."""
    from shadowplay.study import StudyRunner

    doc = {"output": "out", "base": BASE, "seeds": [0], "metrics": ["mig", "sap"], "models": [{"preset": "vae"}]}
    spec, run = _finished_study(tmp_path, doc, {"mig": 0.1, "sap": 0.2, "sap.gap": 0.3, "elbo": -5.0})

    def status(**edit):
        (rec,) = StudyRunner(load_study(_write(tmp_path, {**doc, **edit})), log=lambda m: None).run()
        return rec.status, rec.result.get("metrics")

    assert status(metrics=["sap", "mig"]) == ("skipped", {"mig": 0.1, "sap": 0.2, "sap.gap": 0.3, "elbo": -5.0})
    assert status(metrics=["sap"]) == ("skipped", {"sap": 0.2, "sap.gap": 0.3, "elbo": -5.0})  # mig left the tables
    assert status(evaluation={"options": {"mig": {"bins": 20}}})[0] == "skipped"  # 20 is mig's default
    for edit in ({"metrics": ["mig", "dci"]}, {"evaluation": {"options": {"mig": {"bins": 10}}}},
                 {"evaluation": {"seed": 1}}):
        assert status(**edit)[0] == "failed", edit  # these change numbers: evaluated again (no run here to do it)


def test_summary_md_names_failed_runs_and_their_reason(tmp_path):
    """A failed run used to leave nothing on disk (empty tables) and a terminal line "exited with status 2; see
    <log>"; now the reason is quoted from the child's log and summary.md lists it next to the mean ± sd table."""
    from shadowplay.study.runner import child_error

    spec = load_study(_write(tmp_path, {"base": BASE, "seeds": [0, 1], "metrics": ["mig"],
                                        "models": [{"preset": "beta_vae", "beta": [1, 4]}]}))
    (spec.output / "results").mkdir(parents=True)
    for run, mig in zip(spec.runs[:2], (0.1, 0.4)):
        doc = {"name": run.name, "preset": run.preset, "seed": run.seed, "params": run.params,
               "train": {"step": 5, "val": {"elbo": -100.0}}, "metrics": {"mig": mig}}
        (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(doc))
    log = tmp_path / "x.evaluate.log"
    log.write_text("\n$ shadowplay evaluate a\nerror: old failure\n\n$ shadowplay evaluate b\n"
                   "log p(x):   0%|    | 0/60\rerror: bins must be at least 2, got 1\n")
    assert child_error(log) == "bins must be at least 2, got 1" and child_error(tmp_path / "none.log") == ""
    failed = {spec.runs[2].name: f"evaluate exited with status 2: {child_error(log)}; see {log}"}
    md = write_outputs(spec, failed)["summary_md"].read_text()
    assert "4 runs: 2 with results, 1 failed, 1 not run yet" in md
    assert "| beta_vae-beta1 | 2 | -100 ± 0 | 0.25 ± 0.21 |" in md  # sd of (0.1, 0.4), ddof 1: 0.2121
    assert f"- `{spec.runs[2].name}`: evaluate exited with status 2: bins must be at least 2, got 1" in md
    assert f"## Not run yet\n\n`{spec.runs[3].name}`" in md


def test_the_start_line_says_which_runs_pick_up_where_they_stopped():
    """A restarted study said "3 to do" whether it retrained them or resumed one from its checkpoint."""
    from shadowplay.study.runner import _todo_detail

    assert _todo_detail([(None, ["new", "evaluate"])]) == ""
    todo = [(None, ["partial", "evaluate"]), (None, ["evaluate"]), (None, ["restart", "evaluate"])]
    assert _todo_detail(todo) == " (1 resumes from its checkpoint, 1 needs evaluating only)"


def test_summary_md_of_one_seed_claims_no_spread(tmp_path):
    # with seeds: [0] (examples/rd.yaml) every cell read "-7.207 ± 0", as if seeds had agreed exactly
    spec = load_study(_write(tmp_path, {"base": BASE, "seeds": [0], "metrics": ["mig"],
                                        "models": [{"preset": "vae"}]}))
    (spec.output / "results").mkdir(parents=True)
    run = spec.runs[0]
    doc = {"name": run.name, "preset": run.preset, "seed": run.seed, "params": run.params,
           "train": {"step": 5, "val": {"elbo": -100.0}}, "metrics": {"mig": 0.125}}
    (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(doc))
    md = write_outputs(spec)["summary_md"].read_text()
    assert "| vae | 1 | -100 | 0.125 |" in md and "±" not in md.split("|---", 1)[1]


def test_an_output_beside_the_study_folder_is_a_normal_path(tmp_path):
    # examples/rd.yaml's `output: ../runs/rd-digits` was printed as examples/../runs/rd-digits
    (tmp_path / "examples").mkdir()
    path = tmp_path / "examples" / "s.yaml"
    path.write_text(yaml.safe_dump({"output": "../runs/x", "base": BASE, "seeds": [0], "metrics": [],
                                    "models": [{"preset": "vae"}]}))
    assert load_study(path).output == tmp_path / "runs" / "x"
