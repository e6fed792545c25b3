"""Smoke test of ``benchmarks/iwae_eval.py`` on a few synthetic inputs: every arm runs, the arms agree on the
estimate, and the JSON holds the table. Speed is not asserted (it depends on the machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(170)
def test_iwae_benchmark_runs_every_arm(tmp_path):
    out = tmp_path / "iwae.json"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "iwae_eval.py"), "--synthetic", "--inputs", "6",
                           "--ks", "3,40", "--rounds", "1", "--train-steps", "20", "--json", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=160)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    arms = {"shadowplay", "loop"} | ({"pythae"} if importlib.util.find_spec("pythae") else set())
    for k in ("3", "40"):
        row = res["k"][k]
        assert arms <= set(row) and row["floor_seconds"] > 0
        values = [row[a]["mean_log_px"] for a in arms]
        assert max(values) - min(values) < 0.05 * abs(values[0]) + 5  # three estimates of the same log p(x)
    assert "shadowplay / loop" in proc.stdout
