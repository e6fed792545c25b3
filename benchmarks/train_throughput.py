#!/usr/bin/env python
"""Training throughput of an MLP VAE 784-512-256-16 (Bernoulli likelihood, Kingma & Welling 2014) on 28×28 inputs.

Arms, same architecture, Adam (lr 1e-3), same data, each in its own process, run one at a time and interleaved
round-robin so machine noise hits them alike:
``shadowplay`` (``shadowplay.training.Trainer``, ``vae`` preset, as shipped: metrics log every 50 steps, TensorBoard,
a checkpoint per epoch; progress bar off), ``minimal`` (a hand-written loop: a ``randperm`` per epoch, BCE-with-logits
sum + closed-form KL) and ``pythae`` (pythae 0.1.2's ``BaseTrainer``, custom encoder/decoder, BCE reconstruction).
One run = a fresh model trained one epoch; an arm's figure is the median samples/s of ``--runs`` runs. The FLOP
floor is the large-GEMM rate (``torch.mm``) over the model's FLOPs per sample. A subprocess runs a whole
``shadowplay.api.train`` on Fashion-MNIST for one epoch and reports its peak RSS. See benchmarks/README.md.

Precision and compile arms (issue 12): ``bf16`` (``trainer.precision=bf16``: the nets under CPU autocast),
``bf16+compile`` and ``fp32+compile`` (``trainer.compile=true``; compilation happens in the untimed warm-up), and
``sp.train``: the whole public call from a ``.npy`` file against pythae's whole ``train()``. pythae 0.1.2 has a
mixed-precision switch (``amp``) but turns it off without CUDA (``no_cuda`` sets ``amp=False``), so on CPU its only
arm is fp32. ``minimal-bf16`` and ``minimal-bf16+compile`` are the hand-written loop under the same autocast, eager
and through ``torch.compile``: what bf16 and compilation give without any shadowplay code, so the ``bf16`` arms can
be read against PyTorch's own result.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # pythae's progress bar cannot be switched off otherwise; be fair to it
ROOT = Path(__file__).resolve().parents[1]
try:
    import shadowplay  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

SHAPE, HIDDEN, LATENT, LR = (1, 28, 28), (512, 256), 16, 1e-3
FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def layer_sizes() -> tuple[list[int], list[int]]:
    d = SHAPE[0] * SHAPE[1] * SHAPE[2]
    return [d, *HIDDEN, 2 * LATENT], [LATENT, *reversed(HIDDEN), d]


def flops_per_sample() -> tuple[float, float]:
    """Training FLOPs per example: the 3× rule (forward 2·MACs, backward twice that) and the exact GEMM count
    (the first layer's input gradient is never computed, since x needs no gradient)."""
    enc, dec = layer_sizes()
    macs = sum(a * b for s in (enc, dec) for a, b in zip(s[:-1], s[1:]))
    return 6.0 * macs, 6.0 * macs - 2 * enc[0] * enc[1]


def gemm_rate(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` FLOP/s of a float32 ``n×n @ n×n`` ``torch.mm`` (2·n³ FLOPs)."""
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    torch.mm(a, b)
    return 2 * n ** 3 / min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))


def gemm_bound(batch: int, repeats: int = 5, steps: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """Samples/s of a step that does only the model's GEMMs at this batch (per layer a→b: forward (B×a)(a×b), weight
    gradient (b×B)(B×a), input gradient (B×b)(b×a) except for the first layer): a tighter ceiling than the FLOP
    floor, since GEMMs this thin run below the large-GEMM rate. ``dtype=torch.bfloat16`` gives the ceiling of the
    bf16 arm (its nets' GEMMs in bf16, with no cast, loss or optimizer work at all)."""
    enc, dec = layer_sizes()
    shapes = [(a, b, i > 0 or k > 0) for k, s in enumerate((enc, dec)) for i, (a, b) in enumerate(zip(s[:-1], s[1:]))]
    r = lambda *shape: torch.randn(*shape, device=DEVICE).to(dtype)  # noqa: E731
    mats = [(r(batch, a), r(a, b), r(batch, b), r(b, a), need) for a, b, need in shapes]
    step = lambda: [(torch.mm(x, w), torch.mm(g.t(), x), n and torch.mm(g, wt)) for x, w, g, wt, n in mats]
    step()
    return batch * steps / min(_timed(lambda: [step() for _ in range(steps)]) for _ in range(repeats))


CLOCK = time.perf_counter  # --cpu-time swaps in time.process_time
DEVICE = "cpu"  # --device cuda: every arm trains on the GPU


def _sync() -> None:
    if DEVICE == "cuda":  # kernels run asynchronously: wait for them before reading the clock
        torch.cuda.synchronize()


def _timed(fn) -> float:
    _sync()
    t = CLOCK()
    fn()
    _sync()
    return CLOCK() - t


def load_inputs(n: int, synthetic: bool) -> tuple[torch.Tensor, str]:
    """``(n, 1, 28, 28)`` float32 in [0, 1]: Fashion-MNIST's 60,000 training images (train + val splits) when the
    Debian package and shadowplay's source are there, else random binary-ish images."""
    if not synthetic and FMNIST_DIR.is_dir():
        try:
            from shadowplay.data import load_data
            s = load_data("fashion-mnist")
            x = torch.cat([s.train.x, s.val.x])[:n]
            return x.contiguous(), f"Fashion-MNIST train set ({len(x):,} images from {FMNIST_DIR})"
        except (ImportError, ValueError) as e:
            why = f"shadowplay's fashion-mnist source failed ({e})"
    else:
        why = "--synthetic" if synthetic else f"{FMNIST_DIR} not found"
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, *SHAPE, generator=g) < 0.3).float() * 0.9 + 0.1 * torch.rand(n, *SHAPE, generator=g)
    return x, f"SYNTHETIC binary-ish 28x28 data ({n:,} images; {why})"


def shadowplay_arm(x: torch.Tensor, batch: int, workdir: Path, precision: str = "fp32", compile: bool = False):
    from shadowplay.config import TrainerConfig
    from shadowplay.model import ModelSpec, build_model
    from shadowplay.objectives import PresetParams, build_preset
    from shadowplay.training import Trainer
    counter = itertools.count()

    def run() -> float:
        built = build_preset("vae", PresetParams())
        spec = ModelSpec(SHAPE, LATENT, net="mlp", hidden=HIDDEN, posterior=built.posterior, likelihood="bernoulli")
        cfg = TrainerConfig(epochs=1, batch_size=batch, lr=LR, progress=False, device=DEVICE, precision=precision,
                            compile=compile)
        run_dir = workdir / f"shadowplay-{precision}{'-compile' if compile else ''}-b{batch}-{next(counter)}"
        run_dir.mkdir(parents=True)
        trainer = Trainer(build_model(spec), built.objective, x, None, cfg, run_dir, torch.device(DEVICE),
                          header={"model_spec": spec.to_dict(), "preset": "vae"})
        return _timed(trainer.fit)
    return run


def variant(precision: str, compile: bool):
    """A shadowplay arm in another precision and/or with ``trainer.compile``."""
    return lambda x, batch, workdir: shadowplay_arm(x, batch, workdir, precision, compile)


def whole_train_arm(x: torch.Tensor, batch: int, workdir: Path):
    """The whole ``shadowplay.train`` call from a ``.npy`` file (uint8, as images are stored): loading and checking
    the data, splitting (80/10/10), one epoch, validation, checkpoint, pictures. Its samples/s counts all ``len(x)``
    images, like the pythae arm's whole ``train()`` (which gets its tensor ready-made)."""
    import numpy as np
    import shadowplay as sp
    path = workdir / f"whole-{len(x)}.npy"
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        np.save(path, (x.numpy() * 255).round().astype(np.uint8))
    counter = itertools.count()

    def run() -> float:
        overrides = {"model.hidden": list(HIDDEN), "trainer.batch_size": batch, "trainer.lr": LR,
                     "trainer.device": DEVICE}
        return _timed(lambda: sp.train(data=str(path), model="vae", net="mlp", latent_dim=LATENT, epochs=1,
                                       runs_dir=workdir / "whole", name=f"r{next(counter)}", progress=False,
                                       overrides=overrides))
    return run


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def minimal_arm(x: torch.Tensor, batch: int, workdir: Path, bf16: bool = False, compile: bool = False):
    """The hand-written loop; ``bf16`` runs its two nets under CPU autocast (outputs cast back to float32, as the
    ``bf16`` arm does), ``compile`` runs them through ``torch.compile``: PyTorch's own speed-up on the same loop,
    with no shadowplay code involved."""
    flat = x.flatten(1).to(DEVICE)

    def nets():
        enc, dec = (_mlp(s).to(DEVICE) for s in layer_sizes())
        fenc, fdec = (torch.compile(m, dynamic=False) for m in (enc, dec)) if compile else (enc, dec)
        if not bf16:
            return enc, dec, fenc, fdec

        def cast(f):
            def run(t):
                with torch.autocast(DEVICE, dtype=torch.bfloat16):
                    return f(t).float()
            return run
        return enc, dec, cast(fenc), cast(fdec)

    def epoch() -> None:
        enc, dec, fenc, fdec = nets()
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR)
        perm = torch.randperm(len(flat), device=DEVICE)
        for i in range(0, len(flat), batch):
            xb = flat[perm[i:i + batch]]
            mu, logvar = fenc(xb).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            rec = nn.functional.binary_cross_entropy_with_logits(fdec(z), xb, reduction="sum")
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum()  # Kingma & Welling 2014, appendix B
            loss = (rec + kl) / len(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return lambda: _timed(epoch)


def minimal_variant(bf16: bool, compile: bool):
    return lambda x, batch, workdir: minimal_arm(x, batch, workdir, bf16, compile)


def pythae_arm(x: torch.Tensor, batch: int, workdir: Path):
    import logging
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    logging.getLogger("pythae.trainers.base_trainer.base_trainer").setLevel(logging.WARNING)  # its INFO banner

    class Encoder(BaseEncoder):  # pythae's documented way to bring one's own network
        def __init__(self):
            BaseEncoder.__init__(self)
            self.net = _mlp(layer_sizes()[0])

        def forward(self, x):
            mu, logvar = self.net(x.flatten(1)).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.net = _mlp(layer_sizes()[1])

        def forward(self, z):  # pythae's "bce" loss wants probabilities, as its own MLP decoder gives
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *SHAPE))

    dataset = BaseDataset(x, torch.zeros(len(x)))

    def run() -> float:
        model = VAE(VAEConfig(input_dim=SHAPE, latent_dim=LATENT, reconstruction_loss="bce"), Encoder(), Decoder())
        cfg = BaseTrainerConfig(output_dir=str(workdir / "pythae"), per_device_train_batch_size=batch, num_epochs=1,
                                learning_rate=LR, no_cuda=DEVICE == "cpu")  # its amp switch is off for "bce"
        trainer = BaseTrainer(model, dataset, None, cfg)
        return _timed(trainer.train)
    return run


_CHILD = """
import json, resource, sys
import shadowplay.api as api
def peak_mb():  # VmHWM: this process's own high-water mark; ru_maxrss would include the forking parent's (Linux)
    try:
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
run = api.train(data=sys.argv[1], model="vae", net="mlp", latent_dim=16, epochs=1, runs_dir=sys.argv[2],
                name="mem", progress=False, overwrite=True)
print(json.dumps({"maxrss_mb": peak_mb(),
                  "samples_per_s": run.result.samples_per_s, "step": run.result.step}))
"""


def peak_rss(workdir: Path, data: str) -> dict:
    """Peak RSS (MB) of a subprocess running the whole ``shadowplay.api.train`` pipeline for one epoch."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", _CHILD, data, str(workdir / "runs")],
                          capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _positive(text: str) -> int:
    """argparse type: a whole number ≥ 1 (a batch of 0 would divide by zero far from the option that caused it)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1,024 inputs, memory run on 512 of them")
    p.add_argument("--synthetic", action="store_true", help="random binary-ish data instead of Fashion-MNIST")
    p.add_argument("--n", type=_positive, help="number of training inputs (default 60,000; 1,024 with --quick)")
    p.add_argument("--runs", type=_positive, default=5, help="interleaved runs per arm, median reported (default 5)")
    p.add_argument("--batch", type=_positive, default=128, help="the batch of the three-arm comparison (default 128)")
    p.add_argument("--big-batch", type=_positive, default=1024,
                   help="second batch, shadowplay and minimal (default 1024)")
    p.add_argument("--threads", type=_positive, help="torch intra-op threads (default: torch's choice, one per core)")
    p.add_argument("--cpu-time", action="store_true", help="time with process CPU time, not wall clock, and use one "
                   "thread: steadier on a machine other processes share (a single-core figure)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocess")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile arms (compiling takes minutes "
                   "on a small CPU)")
    p.add_argument("--arms", help="comma-separated arms to run (default: all): shadowplay, minimal, pythae, bf16, "
                   "bf16+compile, fp32+compile, sp.train, minimal-bf16, minimal-bf16+compile, fp16 (GPU only); "
                   "shadowplay (fp32) always runs, as the reference of the ratios")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where every arm trains (default cpu); cuda adds the fp16 arm and skips the peak-RSS run")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is visible to this torch build")
    if a.device == "cuda" and a.cpu_time:
        p.error("--cpu-time counts this process's CPU time, not the GPU's: time a GPU run by the wall clock")
    if a.arms:
        a.arms = {name.strip() for name in a.arms.split(",")} | {"shadowplay"}
        if a.arms - set(ARMS):
            p.error(f"--arms: unknown arm(s) {', '.join(sorted(a.arms - set(ARMS)))}; choose from {', '.join(ARMS)}")
        if a.device == "cpu" and a.arms & GPU_ONLY:
            p.error(f"--arms: {', '.join(sorted(a.arms & GPU_ONLY))} trains on a GPU only (--device cuda)")
    return a


ARMS = ("shadowplay", "minimal", "pythae", "bf16", "bf16+compile", "fp32+compile", "sp.train", "minimal-bf16",
        "minimal-bf16+compile", "fp16")
GPU_ONLY = {"fp16"}  # fp16 trains with a gradient scaler on CUDA only


def arm_factories() -> dict:
    """Arm name -> ``factory(x, batch, workdir)`` returning a runner: one call trains a fresh model one epoch and
    returns the seconds it took."""
    arms = {"shadowplay": shadowplay_arm, "minimal": minimal_arm}
    if importlib.util.find_spec("pythae") is not None:
        arms["pythae"] = pythae_arm
    arms.update({"bf16": variant("bf16", False), "bf16+compile": variant("bf16", True),
                 "fp32+compile": variant("fp32", True), "sp.train": whole_train_arm,
                 "minimal-bf16": minimal_variant(True, False), "minimal-bf16+compile": minimal_variant(True, True)})
    if DEVICE == "cuda":
        arms["fp16"] = variant("fp16", False)
    return arms


def measure(a: argparse.Namespace, x: torch.Tensor, work: Path) -> tuple[dict[tuple[str, int], list[float]],
                                                                         dict[str, int]]:
    """Seconds per run of each (arm, batch), runs interleaved round-robin with a rotating start; and each arm's
    process id.

    Each arm lives in its own spawned process (``_arm_worker``), as a user's script would: nothing one arm leaves in
    the process (torch.compile's generated code and its threads, the heap as glibc's malloc left it, oneDNN's
    primitive cache) can slow or speed another. In one shared process the bf16 arm's median moved by 10 % with the
    set of arms run beside it (benchmarks/README.md). The parent only sends "run batch b" and waits, so one arm runs
    at a time; ``x`` is rebuilt in each worker from the same options, so every arm trains on the same data."""
    arms = arm_factories()
    if "pythae" not in arms:
        print("note: pythae is not installed (pip install -e '.[bench]'); skipping the pythae arm")
    plan = [(name, a.batch) for name in arms] + [(name, a.big_batch) for name in ("shadowplay", "minimal", "bf16")]
    if a.no_compile:
        plan = [k for k in plan if "compile" not in k[0]]
    if a.arms:
        plan = [k for k in plan if k[0] in a.arms]
    ctx = multiprocessing.get_context("spawn")
    settings = {"n": len(x), "synthetic": a.synthetic, "threads": a.threads, "cpu_time": a.cpu_time,
                "device": DEVICE}
    workers: dict[str, tuple] = {}
    try:
        for name in dict.fromkeys(k[0] for k in plan):
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_arm_worker, args=(name, [b for k, b in plan if k == name], settings,
                                                         str(work / name), child), daemon=True)
            proc.start()
            child.close()
            workers[name] = (proc, conn)
        # the warm-ups (untimed) ran in every worker side by side; a worker answers "ready" with its pid
        pids = {name: int(_reply(name, conn)) for name, (_, conn) in workers.items()}
        times: dict[tuple[str, int], list[float]] = {k: [] for k in plan}
        for r in range(a.runs):
            for key in plan[r % len(plan):] + plan[:r % len(plan)]:
                workers[key[0]][1].send(key[1])
                times[key].append(_reply(key[0], workers[key[0]][1]))
        return times, pids
    finally:
        stop_workers(workers)


def stop_workers(workers: dict[str, tuple]) -> None:
    """Ask every arm's process to end (``None``), then wait for each; one that does not end in 30 s is killed."""
    for proc, conn in workers.values():
        try:
            conn.send(None)
        except OSError:
            pass
    for proc, _ in workers.values():
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()


def _reply(name: str, conn) -> Any:
    """The worker's next answer (its pid when it is ready, then run times); its traceback becomes this process's
    error."""
    try:
        kind, value = conn.recv()
    except EOFError:
        raise RuntimeError(f"the {name} arm's process died without a word (killed for memory?)") from None
    if kind == "error":
        raise RuntimeError(f"the {name} arm failed in its process:\n{value}")
    return value


def _arm_worker(name: str, batches: list[int], settings: dict, workdir: str, conn) -> None:
    """One arm's process: rebuild the data, build one runner per batch, warm each up, then run on request."""
    global CLOCK, DEVICE
    try:
        DEVICE = settings["device"]
        if settings["cpu_time"]:
            CLOCK = time.process_time
        if settings["threads"]:
            torch.set_num_threads(settings["threads"])
        x, _ = load_inputs(settings["n"], settings["synthetic"])
        factory, work = arm_factories()[name], Path(workdir)
        runners = {b: factory(x, b, work) for b in batches}
        for b in batches:  # warm-up: allocator, MKL/oneDNN kernel choice, lazy imports, torch.compile's graphs for
            # the full batch and for the last partial batch of a timed epoch (the compile cost is not timed)
            factory(x[:4 * b + len(x) % b], b, work / "warmup")()
        conn.send(("ready", os.getpid()))
        while (b := conn.recv()) is not None:
            conn.send(("time", runners[b]()))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which raises it
        import traceback
        conn.send(("error", traceback.format_exc()))


def memory(a: argparse.Namespace, x: torch.Tensor, work: Path) -> dict:
    """Peak RSS of a whole training run: Fashion-MNIST in the full benchmark, 512 of ``x`` (as .npy) otherwise."""
    if FMNIST_DIR.is_dir() and not (a.synthetic or a.quick):
        return peak_rss(work, "fashion-mnist") | {"what": "fashion-mnist, 60,000 images, 1 epoch"}
    import numpy as np
    np.save(work / "small.npy", x[:512].numpy())
    return peak_rss(work, str(work / "small.npy")) | {"what": f"{min(512, len(x))} images, 1 epoch"}


def main(argv: list[str] | None = None) -> dict:
    global CLOCK, DEVICE
    a, t_start, load = parse(argv), time.perf_counter(), os.getloadavg()[0]
    DEVICE = a.device
    if DEVICE == "cuda":
        a.no_memory = True  # the peak-RSS child measures host memory of a CPU run
    if a.cpu_time:
        CLOCK, a.threads = time.process_time, 1
    if a.threads:
        torch.set_num_threads(a.threads)
    if load > (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs: other processes share the cores, so the "
              "numbers below are noisy (oversubscribed OpenMP threads stall; try --cpu-time)")
    n = a.n or (1024 if a.quick else 60_000)
    x, data_note = load_inputs(n, a.synthetic)
    gpu = f", on {torch.cuda.get_device_name()}" if DEVICE == "cuda" else ""
    print(f"data: {data_note}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs{gpu}, "
          f"timed by {'process CPU time' if a.cpu_time else 'wall clock'}")
    side, (rule, exact) = 1024 if a.quick else 2048, flops_per_sample()
    rate, bound = gemm_rate(side), {b: gemm_bound(b, steps=max(2, 1280 // b)) for b in (a.batch, a.big_batch)}
    bound["bf16"] = gemm_bound(a.batch, steps=max(2, 1280 // a.batch), dtype=torch.bfloat16)
    print(f"GEMM rate {rate / 1e9:.1f} GFLOP/s ({side}x{side} torch.mm, best of 5); model {rule / 1e6:.2f} "
          f"MFLOP/sample by the 3x rule ({exact / 1e6:.2f} M exactly) -> FLOP floor {rate / rule:,.0f} samples/s")
    with tempfile.TemporaryDirectory(prefix="sp-bench-") as tmp:
        times, pids = measure(a, x, Path(tmp))
        mem = None if a.no_memory else memory(a, x, Path(tmp))
    out = report(a, n, times, rate, rule, bound, mem)
    out["load_average"] = [load, os.getloadavg()[0]]
    out["pids"] = {"main": os.getpid(), **pids}  # one process per arm
    print(f"took {time.perf_counter() - t_start:.0f} s; load average {load:.1f} at start, {out['load_average'][1]:.1f} "
          "at end")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    return out


def report(a: argparse.Namespace, n: int, times: dict, rate: float, rule: float, bound: dict, mem: dict | None
           ) -> dict:
    res = {f"{name}@{b}": statistics.median(n / t for t in ts) for (name, b), ts in times.items()}
    best = {f"{name}@{b}": n / min(ts) for (name, b), ts in times.items()}  # robust to other processes' bursts
    print(f"\n{'arm':<21}{'batch':>6}{'median/s':>10}{'best/s':>9}{'of floor':>10}{'of GEMM-only':>14}   all runs")
    for (name, b), ts in times.items():
        r = res[f"{name}@{b}"]
        print(f"{name:<21}{b:>6}{r:>10,.0f}{best[f'{name}@{b}']:>9,.0f}{r * rule / rate:>10.2f}{r / bound[b]:>14.2f}   "
              + ", ".join(f"{n / t:,.0f}" for t in ts))
    print("GEMM-only ceiling (the model's GEMMs alone, no other work): "
          + ", ".join(f"{bound[b]:,.0f} samples/s @ {b}" for b in (a.batch, a.big_batch))
          + f"; in bf16 {bound['bf16']:,.0f} samples/s @ {a.batch}")
    out = {"samples_per_s": res, "best_samples_per_s": best, "gemm_flops": rate, "flops_per_sample": rule,
           "gemm_only_bound": bound, "floor_fraction_big": res[f"shadowplay@{a.big_batch}"] * rule / rate}
    pairs = [("shadowplay", "pythae", 1.5), ("shadowplay", "minimal", 1.0), ("bf16", "pythae", 1.8),
             ("bf16", "shadowplay", 1.3), ("bf16+compile", "pythae", 1.8), ("bf16+compile", "shadowplay", 1.3),
             ("fp32+compile", "shadowplay", None), ("sp.train", "pythae", None), ("bf16", "minimal-bf16", None),
             ("minimal-bf16", "pythae", None), ("minimal-bf16+compile", "minimal-bf16", None), ("fp16", "pythae", None),
             ("fp16", "shadowplay", None)]
    for arm, other, target in pairs:
        sp, k = f"{arm}@{a.batch}", f"{other}@{a.batch}"
        if sp in res and k in res:
            out[f"{arm}/{other}"], ratio_best = res[sp] / res[k], best[sp] / best[k]
            goal = f"   (target >= {target})" if target else ""
            print(f"{arm + '/' + other:<42}@ {a.batch}: {out[f'{arm}/{other}']:.2f}x median, {ratio_best:.2f}x best"
                  + goal)
    if f"fp32+compile@{a.batch}" in res:
        print(f"fp32+compile @ {a.batch}: {res[f'fp32+compile@{a.batch}'] / bound[a.batch]:.2f} of the GEMM-only "
              "ceiling (fp32)")
    if f"bf16@{a.batch}" in res and f"pythae@{a.batch}" in res:
        print(f"bf16 @ {a.batch}: {res[f'bf16@{a.batch}'] / bound['bf16']:.2f} of the bf16 GEMM-only ceiling, which "
              f"is {bound['bf16'] / res[f'pythae@{a.batch}']:.2f}x pythae (the most any bf16 step could reach)")
    if f"bf16@{a.big_batch}" in res:
        print(f"bf16/shadowplay @ {a.big_batch}: {res[f'bf16@{a.big_batch}'] / res[f'shadowplay@{a.big_batch}']:.2f}x "
              "median")
    print(f"shadowplay, fraction of the FLOP floor @ {a.big_batch}: {out['floor_fraction_big']:.2f} median, "
          f"{best[f'shadowplay@{a.big_batch}'] * rule / rate:.2f} best   (target >= 0.6)")
    if mem is not None:
        out["memory"] = mem
        got = f"{mem['maxrss_mb']:,.0f} MB   (target < 1,536)" if "error" not in mem else f"failed: {mem['error']}"
        print(f"peak RSS of shadowplay.api.train ({mem['what']}): {got}")
    return out


if __name__ == "__main__":
    main()
