"""``shadowplay study --launcher ray`` on a local Ray instance: each run step is a Ray task; a half-done run resumes
from its checkpoint, a finished one is skipped, exactly as with the local launcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import shadowplay.api as api
from shadowplay.errors import ConfigError
from shadowplay.study import load_study
from shadowplay.training import Callback

ray = pytest.importorskip("ray")

BASE = {"data": {"source": "dsprites", "n_samples": 320},
        "model": {"latent_dim": 3, "net": "mlp", "hidden": [32]},
        "trainer": {"batch_size": 32, "epochs": 1000, "log_every": 10}}


class _Stop(Callback):
    """Stops training (as a kill would) after ``at`` steps."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, step, values):
        if step == self.at:
            raise KeyboardInterrupt


@pytest.mark.slow  # a minute on a quiet machine; a local Ray instance took 1 min to start and 40 s per task on the
@pytest.mark.timeout(900)  # 2-core machine shared by eight test suites, so CI runs it with SHADOWPLAY_SLOW=1
def test_ray_launcher_runs_resumes_and_skips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in the study file are relative to where it is started
    doc = {"output": "out", "base": BASE, "seeds": [0], "metrics": ["mig"], "evaluation": {"split": "val"},
           "models": [{"preset": "beta_vae", "beta": [4], "trainer.max_steps": 10},
                      {"preset": "vae", "trainer.max_steps": 30, "trainer.checkpoint_every": 10}]}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(doc))
    runs = load_study(path).runs
    half = runs[1]
    with pytest.raises(KeyboardInterrupt):  # the second run is half done: a checkpoint at step 10, no results
        api.train(half.config, runs_dir=tmp_path / "out" / "runs", name=half.name, progress=False,
                  callbacks=[_Stop(12)])

    res = api.study(path, jobs=2, progress=False, launcher="ray")
    assert [r.status for r in res.records] == ["done", "done"], [r.error for r in res.records]
    out = tmp_path / "out"
    assert "$ shadowplay resume" in (out / "logs" / f"{half.name}.train.log").read_text()
    steps = [json.loads(line)["step"] for line in (out / "runs" / half.name / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["split"] == "train"]
    assert steps[-1] == 30 and 20 in steps  # continued past the checkpoint at step 10
    for r in runs:
        assert 0.0 <= json.loads((out / "results" / f"{r.name}.json").read_text())["metrics"]["mig"] <= 1.0
    assert (out / "summary.csv").is_file()
    assert not ray.is_initialized()  # the study's private Ray instance is shut down

    again = api.study(path, jobs=2, progress=False, launcher="ray")
    assert [r.status for r in again.records] == ["skipped", "skipped"]


def test_launcher_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="--launcher must be local or ray"):
        api.study(tmp_path / "study.yaml", launcher="slurm")
    with pytest.raises(ConfigError, match="--address .* needs --launcher ray"):
        api.study(tmp_path / "study.yaml", address="auto")


def test_an_address_where_nothing_answers_fails_in_seconds_not_minutes(tmp_path):
    import socket

    from shadowplay.errors import ShadowplayError
    from shadowplay.study.ray_launcher import _check_reachable
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ShadowplayError, match=rf"could not join the Ray cluster at 127.0.0.1:{port}: nothing answers"):
        _check_reachable(f"127.0.0.1:{port}", timeout=2.0)  # ray.init retried for over two minutes here
    with pytest.raises(ShadowplayError, match="nothing answers"):
        _check_reachable(f"ray://127.0.0.1:{port}", timeout=2.0)
    with socket.socket() as listener:  # something answers: left to Ray; so are auto and other forms
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        _check_reachable(f"127.0.0.1:{listener.getsockname()[1]}")
    for other in (None, "auto", "head-node"):
        _check_reachable(other)
    assert not ray.is_initialized()


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_cpu_count_per_task_is_one_line_before_ray_starts(monkeypatch, value):
    """SHADOWPLAY_RAY_CPUS=two was a ValueError traceback ("a bug in shadowplay") after Ray had started."""
    from shadowplay.errors import ShadowplayError
    from shadowplay.study.ray_launcher import RayLauncher
    started = []
    monkeypatch.setenv("SHADOWPLAY_RAY_CPUS", value)
    monkeypatch.setattr(ray, "init", lambda *a, **k: started.append(k))
    with pytest.raises(ShadowplayError, match=f"SHADOWPLAY_RAY_CPUS='{value}' must be a positive number"):
        RayLauncher()
    assert not started
