"""The metrics sinks (the JSON lines and TensorBoard) and the metric window: means of the step values between log
lines and samples/s of training time only."""

from __future__ import annotations

import math
import time

import pytest
import torch

import shadowplay.api as api
import shadowplay.training.logger as logger_module
from shadowplay.training import read_metrics
from shadowplay.training.logger import MetricsLogger, MetricWindow
from shadowplay.training.trainer import Trainer


class FakeClock:
    """``perf_counter`` that moves only when told (and ``time`` for the log lines' wall time)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


def test_window_counts_only_the_time_its_clock_runs(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(logger_module, "time", clock)
    w = MetricWindow()
    w.add({"loss": torch.tensor(2.0)}, 100)
    clock.now = 1.0
    w.pause()
    clock.now = 50.0            # validation, a checkpoint: not training
    w.pause()                   # pausing twice changes nothing
    w.resume()
    w.add({"loss": torch.tensor(4.0)}, 100)
    clock.now = 51.0
    means, rate = w.flush()
    assert means == {"loss": 3.0} and rate == 200 / 2.0
    w.add({"loss": torch.tensor(1.0)}, 10)  # the next window starts at the flush, clock running
    clock.now = 53.0
    assert w.flush()[1] == 10 / 2.0
    stopped = MetricWindow(running=False)
    stopped.add({"loss": torch.tensor(1.0)}, 10)
    clock.now = 90.0
    stopped.resume()
    clock.now = 95.0
    assert stopped.flush()[1] == 10 / 5.0


def test_logged_samples_per_s_leave_out_validation(tiny_flat, runs_dir, monkeypatch):
    """Each step takes 1 s on a fake clock and each validation 1,000 s. Every logged rate is batch / 1 s, including the
    windows that span an epoch's end (validation and checkpoint), which once counted the 1,000 s."""
    clock = FakeClock()
    monkeypatch.setattr(logger_module, "time", clock)
    real_step, real_validate = Trainer._train_step, Trainer.validate

    def step(self, x, ctx):
        clock.now += 1.0
        return real_step(self, x, ctx)

    def validate(self):
        clock.now += 1000.0
        return real_validate(self)

    monkeypatch.setattr(Trainer, "_train_step", step)
    monkeypatch.setattr(Trainer, "validate", validate)
    run = api.train(data=str(tiny_flat), latent_dim=3, runs_dir=runs_dir, name="rate", progress=False,
                    overrides=["model.hidden=[16]", "trainer.batch_size=32", "trainer.epochs=3", "trainer.log_every=5"])
    rates = [r["samples_per_s"] for r in read_metrics(run.path) if r["split"] == "train"]
    assert len(rates) == 5  # 8 steps an epoch, 24 steps: windows end at steps 5, 10, 15, 20 and 24
    assert rates == [32.0] * 5
    assert run.result.samples_per_s == 32.0


def test_tensorboard_gets_every_scalar_of_a_line_in_one_event(tmp_path):
    """The same tags, steps and values as one ``add_scalar`` per value, written as one event per line (21 events
    cost 2.9 ms a line, a 2-step epoch on small data 36–63 ms)."""
    loader = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")
    from tensorboard.compat.proto.event_pb2 import Event
    log = MetricsLogger(tmp_path / "metrics.jsonl", tmp_path / "tb")
    log.log("train", 3, 0, {"loss": 2.5, "kl": 0.25})
    log.log("val", 4, 1, {"loss": 2.0, "elbo": -2.0, "kl_per_latent/0": float("nan")})
    log.close()
    (events_file,) = (tmp_path / "tb").iterdir()
    events = [Event.FromString(raw) for raw in loader.RawEventFileLoader(str(events_file)).Load()]
    events = [e for e in events if e.HasField("summary")]  # the first one holds the file version
    assert [e.step for e in events] == [3, 4]
    got = [{v.tag: v.simple_value for v in e.summary.value} for e in events]
    assert got[0] == {"train/loss": 2.5, "train/kl": 0.25}
    assert got[1]["val/loss"] == 2.0 and got[1]["val/elbo"] == -2.0 and math.isnan(got[1]["val/kl_per_latent/0"])
    assert [r["step"] for r in read_metrics(tmp_path)] == [3, 4]
