"""Smoke test of ``benchmarks/debias.py --quick``: every arm it runs is trained, audited and tabled, the JSON holds
one result per arm and seed, and the curve is drawn. Accuracy is not asserted (one short epoch on 2,000 images)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shadowplay.data.fashion_mnist import DEFAULT_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path(DEFAULT_DIR).is_dir(), reason="needs Debian's dataset-fashion-mnist package")
def test_debias_benchmark_quick(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    out, png = tmp_path / "debias.json", tmp_path / "curve.png"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "debias.py"), "--quick", "--json", str(out),
                           "--plot", str(png)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=290)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    main = res["main"][str(res["fraction"])]
    assert set(main) == {"plain", "dbvae-max a=1e-3"}
    for runs in main.values():
        assert len(runs) == 1 and 0.0 <= runs[0]["worst"] <= min(runs[0][g] for g in runs[0] if g != "worst")
    assert "| plain (1 seeds) |" in proc.stdout and "worst-group accuracy against the rare fraction" in proc.stdout
    assert png.stat().st_size > 1000


def test_debias_benchmark_help_says_every_default():
    # --seeds and --epochs had no help at all: a user could not tell the protocol's 5 seeds × 3 epochs from --help
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "debias.py"), "--help"], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    for option, default in (("--seeds", "5"), ("--epochs", "3"), ("--curve-seeds", "5"), ("--fraction", "0.005")):
        entry = proc.stdout.split(f"\n  {option} ")[1].split("\n  -")[0]  # the option's help, wrapped or not
        assert f"(default: {default})" in " ".join(entry.split()), entry
