"""``benchmarks/gpu_check.sh`` (issue 12, part 7) with ``GPU_CHECK_DRY=1``: every step of the prepared GPU run, on the
CPU at tiny sizes, so that a session lent a GPU (15 minutes of device time, the start included) does not spend it on
a script that rotted. The GPU numbers themselves are not asserted here: no CI machine has a GPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 70–80 s of the 15-minute CI budget; its parts are each tested elsewhere (`make test-slow` runs it)
@pytest.mark.timeout(400)
def test_the_prepared_gpu_run_runs_every_step_dry(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, GPU_CHECK_DRY="1", PY=sys.executable, OUT=str(out), OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=390)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "FAILED" not in proc.stdout and "done:" in proc.stdout
    assert "passed" in (out / "tests.txt").read_text()
    rates = json.loads((out / "throughput.json").read_text())["samples_per_s"]
    assert rates["shadowplay@64"] > 0 and rates["bf16@64"] > 0 and not any("fp16" in k for k in rates)
    ddp = (out / "ddp.txt").read_text()
    assert ddp.count("run folder:") == 3  # torchrun, resume, --nproc 2 (two gloo ranks on CPU)
    rows = list(csv.DictReader((out / "dsprites_results.csv").open()))
    assert len(rows) == 1 and rows[0]["step"] == "30" and 0 <= float(rows[0]["mig"]) <= 1
    assert '"samples_per_s"' in (out / "dsprites.txt").read_text()
