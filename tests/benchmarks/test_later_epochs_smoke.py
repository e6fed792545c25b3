"""Smoke test of ``benchmarks/later_epochs.py``: each kind of arm trains two epochs in its own process, the table and the
JSON come out, and the subnormal count is a number. The timings are not asserted (they depend on the machine); the
pythae arms only where pythae is installed (the ``bench`` extra)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "later_epochs.py"


@pytest.mark.timeout(180)
def test_each_kind_of_arm_trains_two_epochs_and_reports(tmp_path):
    # shadowplay flushing, shadowplay in IEEE mode, pythae with its process flag set: every code path, half the arms
    # (each arm is a process that imports torch: the whole set takes twice as long)
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--synthetic", "--n", "256", "--batch", "64", "--epochs", "2",
                           "--runs", "1", "--arms", "shadowplay,bf16-ieee,pythae+flush", "--json", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=170)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    arms = {"shadowplay", "bf16-ieee"}
    if importlib.util.find_spec("pythae") is not None:
        arms.add("pythae+flush")
        assert res["shadowplay/pythae+flush"]["later"] > 0
    else:
        assert "skipping the pythae arms" in proc.stdout
    assert set(res["arms"]) == arms
    for r in res["arms"].values():
        assert len(r["epoch_seconds"]) == 1 and len(r["epoch_seconds"][0]) == 2  # one run, both epochs timed
        assert r["first"] > 0 and r["later"] > 0 and r["subnormal"] >= 0
    assert "later epochs" in proc.stdout


def test_an_unknown_arm_is_refused_with_the_list(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--arms", "bf16,pythea"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "pythea" in proc.stderr and "pythae+flush" in proc.stderr
