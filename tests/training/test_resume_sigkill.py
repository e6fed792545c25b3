"""Exact resume after a hard kill, end to end through the CLI.

A real ``shadowplay train --deterministic`` process writes a checkpoint every few steps; as soon as a mid-epoch
checkpoint of its second epoch exists it is SIGKILLed (no chance to clean up), ``shadowplay resume`` finishes the
run, and the final weights and optimizer state must equal, bit for bit, those of an uninterrupted run with the same
seed. The trainer makes this possible by drawing each epoch's order from ``(seed, epoch)`` and saving the global RNG
with every checkpoint (see ``shadowplay/training/trainer.py``).
"""

from __future__ import annotations

import json
import math
import signal
import time

import numpy as np
import torch

from shadowplay.training import latest_good, step_checkpoints

BATCH, EPOCHS, EVERY = 32, 8, 4


def _args(data, runs, name):
    return ["train", "--data", str(data), "--model", "beta_vae", "--latent-dim", "4", "--net", "mlp",
            "--epochs", str(EPOCHS), "--seed", "7", "--deterministic", "--no-progress", "--runs-dir", str(runs),
            "--name", name, "model.hidden=[256,256]", f"trainer.batch_size={BATCH}",
            f"trainer.checkpoint_every={EVERY}", "trainer.keep_last=2"]


def _wait_for_mid_epoch_checkpoint(proc, folder, batches_per_epoch, tmp_path, limit=45.0):
    """The first checkpoint inside the second epoch (so a validation pass and ``best`` are part of the state)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for p in step_checkpoints(folder):
            step = int(p.stem.split("-")[1])
            if step > batches_per_epoch and step % batches_per_epoch:
                return p
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"no mid-epoch checkpoint appeared (exit {proc.poll()}):\n"
                         + (tmp_path / "killed.err").read_text()[-3000:])


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, cli, cli_spawn, blocks):
    data = tmp_path / "blocks.npy"
    np.save(data, blocks(600, 28, seed=5))
    runs = tmp_path / "runs"
    victim = cli_spawn(*_args(data, runs, "killed"), log="killed")
    reference = cli_spawn(*_args(data, runs, "reference"), log="reference")
    try:
        run_json = runs / "killed" / "run.json"
        train_size, deadline = None, time.monotonic() + 45
        while train_size is None and victim.poll() is None and time.monotonic() < deadline:
            try:  # run.json appears before the first step; it may be caught half-written
                train_size = json.loads(run_json.read_text())["data"]["sizes"]["train"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.005)
        assert train_size, "the run never started:\n" + (tmp_path / "killed.err").read_text()[-3000:]
        per_epoch = math.ceil(train_size / BATCH)
        assert per_epoch % EVERY, "pick sizes whose checkpoints fall mid-epoch"
        _wait_for_mid_epoch_checkpoint(victim, runs / "killed" / "checkpoints", per_epoch, tmp_path)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    total = EPOCHS * per_epoch
    survived = latest_good(runs / "killed" / "checkpoints")
    assert survived.state["step"] < total, "the run finished before it could be killed; make it longer"
    assert json.loads(run_json.read_text())["status"] == "running"
    shown = cli("info", str(runs / "killed"))  # issue 9: a killed run is not `running`
    assert "(interrupted; `shadowplay resume` continues it)" in shown.stdout, shown.stdout

    resumed = cli("resume", str(runs / "killed"), "--no-progress", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert reference.wait(timeout=120) == 0, (tmp_path / "reference.err").read_text()[-3000:]

    a = latest_good(runs / "reference" / "checkpoints")
    b = latest_good(runs / "killed" / "checkpoints")
    assert a.state["step"] == b.state["step"] == total and b.state["finished"]
    for section in ("model", "optim/model"):
        sa, sb = a.section(section), b.section(section)
        assert sa.keys() == sb.keys() and sa
        diff = [k for k in sa if not torch.equal(sa[k], sb[k])]
        assert not diff, f"{section} differs after resume: {diff}"
    assert a.state["best"] == b.state["best"] and a.state["val_metrics"] == b.state["val_metrics"]
