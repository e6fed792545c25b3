"""Smoke test of ``benchmarks/train_throughput.py --quick``: every arm trains, the table and the JSON come out.

The benchmark's numbers are not asserted (they depend on the machine); this only checks that the script runs end to
end on tiny synthetic data, so that ``make bench`` does not rot. The pythae arm is checked only where pythae is
installed (the ``bench`` extra); the script itself prints a note and skips that arm otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "train_throughput.py"


@pytest.mark.timeout(180)
def test_quick_run_trains_every_arm_and_reports(tmp_path):
    out = tmp_path / "result.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1")  # one thread: a shared, busy machine cannot stall it in OpenMP barriers
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--synthetic", "--n", "256", "--batch", "64",
                           "--big-batch", "128", "--no-compile", "--runs", "2", "--json", str(out)],
                          capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=170)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SYNTHETIC" in proc.stdout and "shadowplay/minimal" in proc.stdout
    res = json.loads(out.read_text())
    rates = res["samples_per_s"]
    arms = {"shadowplay@64", "minimal@64", "shadowplay@128", "minimal@128", "bf16@64", "bf16@128", "sp.train@64",
            "minimal-bf16@64"}
    assert not any("compile" in k for k in rates)  # --no-compile (compiling takes minutes on a small CPU)
    has_pythae = importlib.util.find_spec("pythae") is not None
    if has_pythae:
        arms.add("pythae@64")
        assert res["shadowplay/pythae"] > 0
    else:
        assert "skipping the pythae arm" in proc.stdout
    assert arms <= set(rates) and all(rates[a] > 0 for a in arms)
    assert res["bf16/minimal-bf16"] > 0  # shadowplay's bf16 read against the same autocast in a bare loop
    pids = res["pids"]  # each arm in its own process: nothing one arm leaves behind can change another's speed
    arm_names = {a.split("@")[0] for a in rates}
    assert set(pids) == arm_names | {"main"} and len(set(pids.values())) == len(pids)
    assert res["gemm_flops"] > 1e8 and res["flops_per_sample"] == pytest.approx(6 * 1_077_248)
    assert 50 < res["memory"]["maxrss_mb"] < 4096 and res["memory"]["step"] >= 1
    assert not any(p.name != "result.json" for p in tmp_path.iterdir()), "the benchmark left files in its cwd"


def test_unknown_arm_is_refused_before_any_work():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--arms", "bf16,bogus"], capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                                        os.environ.get("PYTHONPATH")]))))
    assert proc.returncode == 2 and "unknown arm(s) bogus" in proc.stderr and "minimal-bf16" in proc.stderr


@pytest.mark.parametrize("option", ["--batch", "--big-batch", "--runs", "--n", "--threads"])
def test_sizes_below_one_are_refused_by_the_option_parser(option):
    # --big-batch 0 used to reach gemm_bound and die in a ZeroDivisionError after the data had loaded
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", option, "0"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))))
    assert proc.returncode == 2 and f"argument {option}: must be at least 1, got 0" in proc.stderr


def test_gpu_only_arms_and_options_are_refused_on_a_cpu_run():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    fp16 = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--arms", "fp16"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert fp16.returncode == 2 and "fp16 trains on a GPU only (--device cuda)" in fp16.stderr
    if not torch.cuda.is_available():
        gpu = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--device", "cuda"], capture_output=True,
                             text=True, timeout=60, env=env)
        assert gpu.returncode == 2 and "no CUDA GPU is visible" in gpu.stderr
