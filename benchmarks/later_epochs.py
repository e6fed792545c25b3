#!/usr/bin/env python
"""Throughput epoch by epoch over a training run, not only its first epoch: subnormal floats flushed or not.

``train_throughput.py`` times fresh models for one epoch (469 steps at batch 128). From about step 600 on, Adam's
first moments of weights whose gradient stays zero (ReLU units the inputs no longer switch on) shrink by β₁ = 0.9 a
step into float32's subnormal range, where each x86 operation on them takes a microcode assist; a run then slows down
from its second epoch on (see ``shadowplay/training/denormals.py``). This benchmark trains each arm ``--epochs``
epochs from a fresh model and reports the first epoch's samples/s, the later epochs' samples/s and how many of Adam's
moments were subnormal at the end.

Arms, same MLP VAE 784-512-256-16 as ``train_throughput.py``, each in its own process, interleaved round-robin:
``shadowplay`` and ``bf16`` as shipped (``trainer.flush_denormal=true``), the same with
``trainer.flush_denormal=false`` (``-ieee``), ``pythae`` as shipped (fp32; PyTorch's default IEEE mode), and
``pythae+flush``: pythae with ``torch.set_flush_denormal(True)`` in its one-thread process, what a pythae user who
knows the trick gets. One thread, timed by process CPU time (a single-core figure, steady on a shared machine).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput as tt  # noqa: E402  (the arms' model, data and pythae set-up are that benchmark's)

import torch  # noqa: E402

ARMS = ("shadowplay", "shadowplay-ieee", "bf16", "bf16-ieee", "pythae", "pythae+flush")


def subnormal_moments(opt: torch.optim.Optimizer) -> int:
    """How many entries of the optimizer's state tensors (Adam's m and v) are subnormal float32 numbers."""
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((v != 0) & (v.abs() < tiny)).sum()) for st in opt.state.values() for v in st.values()
               if torch.is_tensor(v) and v.dtype == torch.float32 and v.dim() > 0)


def shadowplay_run(x: torch.Tensor, batch: int, epochs: int, work: Path, precision: str, flush: bool):
    """One fresh shadowplay ``Trainer`` (the ``vae`` preset, as ``train_throughput.shadowplay_arm``) trained
    ``epochs`` epochs: (seconds per epoch, subnormal moments at the end)."""
    from shadowplay.config import TrainerConfig
    from shadowplay.model import ModelSpec, build_model
    from shadowplay.objectives import PresetParams, build_preset
    from shadowplay.training import Callback, Trainer

    class Clock(Callback):
        def __init__(self):
            self.starts, self.ends = [], []

        def on_epoch_start(self, trainer, epoch):
            self.starts.append(time.process_time())

        def on_epoch_end(self, trainer, epoch, metrics):  # after the epoch's checkpoint, as shipped
            self.ends.append(time.process_time())

    built = build_preset("vae", PresetParams())
    spec = ModelSpec(tt.SHAPE, tt.LATENT, net="mlp", hidden=tt.HIDDEN, posterior=built.posterior,
                     likelihood="bernoulli")
    cfg = TrainerConfig(epochs=epochs, batch_size=batch, lr=tt.LR, progress=False, device="cpu", precision=precision,
                        flush_denormal=flush)
    work.mkdir(parents=True)
    clock = Clock()
    trainer = Trainer(build_model(spec), built.objective, x, None, cfg, work, torch.device("cpu"),
                      callbacks=[clock], header={"model_spec": spec.to_dict(), "preset": "vae"})
    trainer.fit()
    return [e - s for s, e in zip(clock.starts, clock.ends)], subnormal_moments(trainer.optimizers["model"])


def pythae_run(x: torch.Tensor, batch: int, epochs: int, work: Path):
    """One fresh pythae ``BaseTrainer`` run (the model of ``train_throughput.pythae_arm``), ``epochs`` epochs."""
    import logging
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback
    logging.getLogger("pythae.trainers.base_trainer.base_trainer").setLevel(logging.WARNING)

    class Encoder(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            self.net = tt._mlp(tt.layer_sizes()[0])

        def forward(self, x):
            mu, logvar = self.net(x.flatten(1)).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.net = tt._mlp(tt.layer_sizes()[1])

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *tt.SHAPE))

    class Clock(TrainingCallback):
        def __init__(self):
            self.starts, self.ends = [], []

        def on_epoch_begin(self, training_config, **kwargs):
            self.starts.append(time.process_time())

        def on_epoch_end(self, training_config, **kwargs):
            self.ends.append(time.process_time())

    model = VAE(VAEConfig(input_dim=tt.SHAPE, latent_dim=tt.LATENT, reconstruction_loss="bce"), Encoder(), Decoder())
    cfg = BaseTrainerConfig(output_dir=str(work), per_device_train_batch_size=batch, num_epochs=epochs,
                            learning_rate=tt.LR, no_cuda=True)
    clock = Clock()
    trainer = BaseTrainer(model, BaseDataset(x, torch.zeros(len(x))), None, cfg, callbacks=[clock])
    trainer.train()
    return [e - s for s, e in zip(clock.starts, clock.ends)], subnormal_moments(trainer.optimizer)


def run_arm(name: str, x: torch.Tensor, batch: int, epochs: int, work: Path):
    if name.startswith("pythae"):
        return pythae_run(x, batch, epochs, work)
    return shadowplay_run(x, batch, epochs, work, "bf16" if name.startswith("bf16") else "fp32",
                          flush=not name.endswith("-ieee"))


def _worker(name: str, settings: dict, workdir: str, conn) -> None:
    """One arm's process: one thread, the data, a short warm-up run, then a timed run per request."""
    try:
        torch.set_num_threads(1)
        if name == "pythae+flush":
            torch.set_flush_denormal(True)  # one thread: this thread's flag is the whole process's
        x, _ = tt.load_inputs(settings["n"], settings["synthetic"])
        work, b = Path(workdir), settings["batch"]
        run_arm(name, x[:4 * b], b, 1, work / "warmup")
        conn.send(("ready", os.getpid()))
        k = 0
        while conn.recv() is not None:
            conn.send(("time", run_arm(name, x, b, settings["epochs"], work / f"run{k}")))
            k += 1
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which raises it
        import traceback
        conn.send(("error", traceback.format_exc()))


def measure(a: argparse.Namespace, arms: list[str], work: Path) -> dict[str, list]:
    """Per arm, one ``(seconds per epoch, subnormal moments)`` per run; runs interleaved with a rotating start."""
    ctx = multiprocessing.get_context("spawn")
    settings = {"n": a.n, "synthetic": a.synthetic, "batch": a.batch, "epochs": a.epochs}
    workers: dict[str, tuple] = {}
    try:
        for name in arms:
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(name, settings, str(work / name), child), daemon=True)
            proc.start()
            child.close()
            workers[name] = (proc, conn)
        for name, (_, conn) in workers.items():
            tt._reply(name, conn)
        out: dict[str, list] = {name: [] for name in arms}
        for r in range(a.runs):
            for name in arms[r % len(arms):] + arms[:r % len(arms)]:
                workers[name][1].send(True)
                out[name].append(tt._reply(name, workers[name][1]))
        return out
    finally:
        tt.stop_workers(workers)


def report(a: argparse.Namespace, runs: dict[str, list]) -> dict[str, Any]:
    """The table: per arm the median over runs of the first epoch's and the later epochs' samples/s."""
    n = a.n
    res: dict[str, Any] = {"epochs": a.epochs, "runs": a.runs, "n": n, "batch": a.batch, "arms": {}}
    print(f"\n{'arm':<16}{'epoch 1/s':>11}{'later/s':>11}{'later/first':>13}{'subnormal m,v':>15}   later epochs "
          "(samples/s, every run)")
    for name, rs in runs.items():
        first = statistics.median(n / ep[0] for ep, _ in rs)
        later_each = [n * (len(ep) - 1) / sum(ep[1:]) for ep, _ in rs] if a.epochs > 1 else []
        later = statistics.median(later_each) if later_each else float("nan")
        sub = int(statistics.median(s for _, s in rs))
        res["arms"][name] = {"first": first, "later": later, "later_runs": later_each, "subnormal": sub,
                             "epoch_seconds": [ep for ep, _ in rs]}
        print(f"{name:<16}{first:>11,.0f}{later:>11,.0f}{later / first:>13.2f}{sub:>15,}   "
              + ", ".join(f"{v:,.0f}" for v in later_each))
    arms = res["arms"]
    pairs = [("bf16", "pythae"), ("shadowplay", "pythae"), ("bf16", "pythae+flush"), ("shadowplay", "pythae+flush"),
             ("shadowplay", "shadowplay-ieee"), ("bf16", "bf16-ieee"), ("pythae+flush", "pythae")]
    for x, y in pairs:
        if x in arms and y in arms:
            ratio = {k: arms[x][k] / arms[y][k] for k in ("first", "later")}
            res[f"{x}/{y}"] = ratio
            print(f"{x + '/' + y:<30} epoch 1: {ratio['first']:.2f}x   later epochs: {ratio['later']:.2f}x")
    return res


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=tt._positive, default=3, help="epochs per run (default 3; the first is reported "
                   "apart from the others)")
    p.add_argument("--runs", type=tt._positive, default=3, help="interleaved runs per arm, median reported (default 3)")
    p.add_argument("--n", type=tt._positive, default=60_000, help="training inputs (default 60,000)")
    p.add_argument("--batch", type=tt._positive, default=128, help="batch size (default 128)")
    p.add_argument("--synthetic", action="store_true", help="random binary-ish data instead of Fashion-MNIST")
    p.add_argument("--arms", help=f"comma-separated arms (default: all): {', '.join(ARMS)}")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    a.arms = [s.strip() for s in a.arms.split(",")] if a.arms else list(ARMS)
    if set(a.arms) - set(ARMS):
        p.error(f"--arms: unknown arm(s) {', '.join(sorted(set(a.arms) - set(ARMS)))}; choose from {', '.join(ARMS)}")
    return a


def main(argv: list[str] | None = None) -> dict:
    a, t0, load = parse(argv), time.perf_counter(), os.getloadavg()[0]
    import importlib.util
    if importlib.util.find_spec("pythae") is None:
        print("note: pythae is not installed (pip install -e '.[bench]'); skipping the pythae arms")
        a.arms = [x for x in a.arms if not x.startswith("pythae")]
    _, note = tt.load_inputs(a.n, a.synthetic)
    print(f"data: {note}\ntorch {torch.__version__}, 1 thread per arm, timed by process CPU time; {a.epochs} epochs "
          f"of {a.n:,} inputs at batch {a.batch} per run, {a.runs} runs per arm")
    with tempfile.TemporaryDirectory(prefix="sp-epochs-") as tmp:
        runs = measure(a, a.arms, Path(tmp))
    out = report(a, runs)
    out["load_average"] = [load, os.getloadavg()[0]]
    print(f"took {time.perf_counter() - t0:.0f} s; load average {load:.1f} at start, {out['load_average'][1]:.1f} at end")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
