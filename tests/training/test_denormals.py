"""Subnormal floats flushed to zero while training on CPU (``trainer.flush_denormal``): in this thread and in every
intra-op thread, restored after ``fit``, recorded in ``run.json``, and off when the config says so."""

from __future__ import annotations

import json

import pytest
import torch

import shadowplay.api as api
from shadowplay.training import Callback
from shadowplay.training.denormals import flush_denormals, flushed_threads


@pytest.fixture
def two_threads():
    """Two intra-op threads (the flags are per thread: one thread alone would not show a worker left out)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_the_flag_reaches_the_intra_op_threads_and_is_restored(two_threads):
    torch.full((1 << 20,), 1.0).mul_(2.0)  # the worker thread exists before the flag is set, as in a real process
    assert flushed_threads() == (False, 0)
    with flush_denormals() as mode:
        assert mode == "on"
        assert flushed_threads() == (True, two_threads)  # torch.set_flush_denormal alone gives (True, 1)
        assert (torch.full((4,), 1e-30, dtype=torch.float64).float() * 1e-10).eq(0).all()
    assert flushed_threads() == (False, 0)
    assert (torch.tensor([1e-30]) * 1e-10).item() > 0.0  # IEEE subnormals again for the user's code


def test_a_flag_set_before_is_left_on_and_off_means_untouched(two_threads):
    with flush_denormals() as outer:
        with flush_denormals() as inner:
            assert inner == "already on"
        assert outer == "on" and flushed_threads() == (True, two_threads)
    with flush_denormals(False) as mode:
        assert mode == "off" and flushed_threads() == (False, 0)


@pytest.mark.parametrize("flush", [True, False])
def test_training_steps_run_flushed_unless_the_config_says_no(tiny_flat, runs_dir, two_threads, flush):
    seen = set()

    class Probe(Callback):
        def on_step_end(self, trainer, step, values):
            seen.add(flushed_threads())

    run = api.train(data=str(tiny_flat), latent_dim=3, runs_dir=runs_dir, name=f"flush-{flush}", progress=False,
                    overrides=["model.hidden=[32]", "trainer.batch_size=32", "trainer.epochs=1",
                               f"trainer.flush_denormal={str(flush).lower()}"], callbacks=[Probe()])
    assert seen == ({(True, two_threads)} if flush else {(False, 0)})
    assert flushed_threads() == (False, 0)  # evaluation and the caller's code after fit: IEEE again
    assert json.loads((run.path / "run.json").read_text())["flush_denormal"] == ("on" if flush else "off")
