"""``StudyRunner``: a study whose ``metrics:`` changed evaluates its finished runs again, without retraining them.

Before, a finished run was skipped whatever the study asked to evaluate (the finished-run check compared the
training config only), so a metric added to ``metrics:`` stayed an empty column for every run trained earlier.
"""

from __future__ import annotations

import json

import yaml

from shadowplay.study import StudyRunner, load_study, write_outputs
from shadowplay.study.runner import _todo_detail

BASE = {"data": {"source": "dsprites", "n_samples": 320},
        "model": {"latent_dim": 3, "net": "mlp", "hidden": [16]},
        "trainer": {"batch_size": 32, "epochs": 1000, "max_steps": 10, "log_every": 10}}


def _study(tmp_path, metrics, evaluation=None):
    doc = {"output": "out", "base": BASE, "seeds": [0], "metrics": metrics, "models": [{"preset": "beta_vae"}]}
    if evaluation:
        doc["evaluation"] = evaluation
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_study(path)


def test_changed_metrics_re_evaluate_finished_runs_without_retraining(tmp_path):
    spec = _study(tmp_path, ["mig"])
    logs: list[str] = []
    (first,) = StudyRunner(spec, log=logs.append).run()
    assert first.status == "done" and "sap" not in first.result["metrics"]
    assert first.result["evaluation"]["metrics"] == ["mig"]
    ckpts = sorted((spec.output / "runs" / first.run.name / "checkpoints").glob("*.safetensors"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in ckpts}

    changed = _study(tmp_path, ["mig", "sap"])
    logs.clear()
    (again,) = StudyRunner(changed, log=logs.append).run()
    assert again.status == "done" and isinstance(again.result["metrics"]["sap"], float)
    assert "0 already done, 1 to do (1 re-evaluated for changed evaluation settings)" in logs[0]
    assert "re-evaluated in" in logs[-1]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in ckpts} == before  # not retrained
    train_log = (spec.output / "logs" / f"{first.run.name}.train.log").read_text()
    assert train_log.count("$ shadowplay") == 1
    assert again.result["seconds"]["train"] == first.result["seconds"]["train"]
    rows = json.loads(write_outputs(changed)["results_json"].read_text())
    assert isinstance(rows[0]["sap"], float)  # the new column is filled

    # the same settings again: nothing to do; another evaluation split: evaluated again
    assert [r.status for r in StudyRunner(changed, log=logs.append).run()] == ["skipped"]
    other = _study(tmp_path, ["mig", "sap"], {"split": "val"})
    (third,) = StudyRunner(other, log=logs.append).run()
    assert third.status == "done" and third.result["evaluation"]["split"] == "val"


def test_results_without_recorded_settings_and_no_run_to_evaluate_again_fail_saying_how_to_retrain(tmp_path):
    """A results file of an older shadowplay records no settings; one whose run folder is gone cannot be
    evaluated again and says how to train it, rather than keeping numbers of other settings silently."""
    spec = _study(tmp_path, ["mig"])
    (run,) = spec.runs
    (spec.output / "results").mkdir(parents=True)
    (spec.output / "results" / f"{run.name}.json").write_text(json.dumps(
        {"name": run.name, "preset": run.preset, "seed": 0, "params": {}, "metrics": {"mig": 0.1}}))
    logs: list[str] = []
    (rec,) = StudyRunner(spec, log=logs.append).run()
    assert rec.status == "failed" and "evaluation settings not recorded" in rec.error and "delete" in rec.error
    assert "0 already done" in logs[0]


def test_the_start_line_counts_re_evaluated_runs_apart():
    todo = [(None, ["evaluate"]), (None, ["evaluate"]), (None, ["partial", "evaluate"])]
    assert _todo_detail(todo, 1) == (" (1 resumes from its checkpoint, 1 needs evaluating only, "
                                     "1 re-evaluated for changed evaluation settings)")
