"""Quality on real data (slow; SHADOWPLAY_SLOW=1): ``benchmarks/fmnist_likelihood.py`` for 2 epochs, K = 100.

The recorded 10-epoch, K = 1000 numbers are in benchmarks/README.md (test ELBO −243.2, IWAE −240.9 nats); after two
epochs the same model is a few nats worse, and the importance-weighted estimate must lie above the ELBO.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.fmnist
@pytest.mark.timeout(900)
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="needs dataset-fashion-mnist")
def test_fmnist_vae_likelihood(tmp_path):
    out = tmp_path / "fmnist.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fmnist_likelihood.py"), "--epochs", "2",
                           "--iw-samples", "100", "--threads", "1", "--runs-dir", str(tmp_path / "runs"),
                           "--json", str(out)], capture_output=True, text=True, env=env, timeout=880)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lk = json.loads(out.read_text())["likelihood"]
    assert -262 < lk["elbo"] < -235
    assert 0.3 < lk["log_px"] - lk["elbo"] < 10
    assert lk["kl"] > 5
