"""Smoke test of ``benchmarks/features.py --quick --synthetic``: every arm at every dimension runs, the tables and
the target lines are printed, and the JSON and the plot are written. Quality is not asserted (one epoch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_features_benchmark_runs_every_arm(tmp_path):
    out, png = tmp_path / "features.json", tmp_path / "features.png"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "features.py"), "--quick", "--synthetic",
                           "--threads", "1", "--json", str(out), "--plot", str(png)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert set(res["dims"]) == {"2", "4"} and 0 <= res["raw_probe_acc"] <= 1
    for row in res["dims"].values():
        assert set(row) == {"pca", "ae", "vae"}
        for arm in row.values():
            assert arm["recon_sse"] > 0 and 0 <= arm["probe_acc"] <= 1 and -1 <= arm["kmeans_ari"] <= 1
            assert 0 <= arm["kmeans_nmi"] <= 1
    for line in ("reconstruction error on the test set", "linear-probe accuracy", "k-means (10 clusters)",
                 "AE reconstruction below PCA at d=2:", "VAE linear probe above PCA at d=2:"):
        assert line in proc.stdout
    assert png.stat().st_size > 10_000


def test_help_gives_every_option_its_meaning_and_default():
    # --help listed --dims, --n-train, --epochs ... with neither what they mean nor their defaults
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "features.py"), "--help"], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    for line in ("--dims DIMS", "code sizes d to compare, comma-separated (default: 2,8,16,32)",
                 "training images (seeded subset of 54,000) (default: 6000)", "(default: 8)"):
        assert line in proc.stdout


def test_the_plot_says_what_it_shows():
    # the picture had four panels and no word on the data, the budget or that a --quick run is no result
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import features; "
            "d = {'recon_sse': 1.0, 'probe_acc': 0.5, 'kmeans_ari': 0.1, 'kmeans_nmi': 0.2}; "
            "res = {'data': 'synthetic: 10 noisy prototypes', 'raw_probe_acc': 0.7, "
            "'args': {'hidden': [32], 'epochs': 1, 'batch_size': 64, 'seed': 0, 'quick': True}, "
            "'dims': {'2': {a: d for a in features.ARMS}}}; print(features.figure(res)._suptitle.get_text())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "benchmarks")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "synthetic: 10 noisy prototypes; AE/VAE MLP 32, 1 epochs, batch 64, seed 0" in proc.stdout
    assert "--quick smoke run: not a result" in proc.stdout
