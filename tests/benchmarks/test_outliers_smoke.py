"""Smoke test of ``benchmarks/outliers.py --quick``: every part and arm runs and the JSON holds the tables.
Quality is not asserted (one epoch on 200 images); the full run is documented in benchmarks/README.md."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.fmnist
@pytest.mark.timeout(600)
@pytest.mark.skipif(importlib.util.find_spec("pyod") is None, reason="the bench extra (pyod) is not installed")
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed")
def test_outlier_benchmark_quick(tmp_path):
    out = tmp_path / "o.json"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "outliers.py"), "--quick", "--json", str(out),
                           "--plot", str(tmp_path / "bars.png")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=580)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    arms = {"elbo", "iwae", "recon", "latent_knn", "complexity", "pyod_ae", "pyod_vae", "iforest", "pca"}
    assert arms <= set(res["one_class"]["Shirt"])
    assert {"likelihood_ratio", "complexity"} <= set(res["ood"]["fashion-mnist vs digits"])
    assert res["tabular"]["iwae"]["runs"] and (tmp_path / "bars.png").stat().st_size > 1000
    assert "One-class Fashion-MNIST" in proc.stdout and "took" in proc.stdout
