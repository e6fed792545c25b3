#!/usr/bin/env python
"""Importance-weighted log-likelihood (Burda et al. 2016, eq. 8) of 1,000 test inputs with the MLP VAE
784-512-256-16 (Bernoulli likelihood) of the throughput benchmark, at K = 10 and K = 1000.

Three arms use the same weights and are interleaved in one process, so machine noise hits them alike:

- ``shadowplay``: ``shadowplay.evaluation.per_sample_likelihoods`` as it ships. The encoder is deterministic, so it
  runs once per input; the decoder runs on blocks of inputs × draws (``max_rows`` rows), with a streaming
  log-sum-exp over draws.
- ``loop``: one input at a time, its K draws batched (how pythae's ``get_nll`` works): the input is repeated K times,
  encoded K times, decoded, and log-sum-exp'd — written with plain torch on the same modules.
- ``pythae``: pythae 0.1.2's ``VAE.get_nll`` with a custom encoder/decoder holding the same weights (its decoder
  returns probabilities, as pythae's "bce" loss needs). ``get_nll`` draws ``batch_size`` samples per round even when
  K < batch_size, so it is called with ``batch_size = min(K, 100)`` to make it draw exactly K.

The FLOP floor counts what the computation needs: per input one encoder pass and K decoder passes (2 FLOPs per
multiply-add of every Linear layer), divided by the machine's large-GEMM rate (a 2048² ``torch.mm``, best of 3),
measured just before and just after each timed shadowplay call; shadowplay's fraction of the floor is the median
over rounds of the per-round fractions. With one torch thread (``--threads 1``) every arm and the GEMM are timed by
the CPU time of the computing thread (``time.thread_time``), so other processes on a shared machine do not count;
``--wall`` or more threads use the wall clock. Wall-clock seconds are recorded in the JSON either way. Peak memory is the largest resident-set growth seen while an arm runs (sampled every 2 ms).
Usage: ``python benchmarks/iwae_eval.py [--inputs 1000] [--ks 10,1000] [--rounds 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
try:
    import shadowplay  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from shadowplay.evaluation import per_sample_likelihoods  # noqa: E402
from shadowplay.model import ModelSpec, build_model  # noqa: E402

SHAPE, HIDDEN, LATENT = (1, 28, 28), (512, 256), 16


def linear_flops(model: torch.nn.Module) -> float:
    """2 × multiply-adds of every Linear layer of ``model`` for one input row."""
    return float(sum(2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)))


CLOCK = time.perf_counter  # set in main(): CPU time of this process when torch runs one thread


def gemm_rate(n: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        t = CLOCK()
        torch.mm(a, b)
        best = min(best, CLOCK() - t)
    return 2 * n ** 3 / best


class PeakRSS:
    """Context manager: the largest RSS growth (MB) over the value at entry, sampled in a thread."""

    def __enter__(self):
        import psutil
        self.proc, self.stop, self.peak = psutil.Process(), threading.Event(), 0
        self.base = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.mb = max(self.peak, self.proc.memory_info().rss - self.base) / 2 ** 20


def load_inputs(n: int, synthetic: bool) -> tuple[torch.Tensor, str]:
    if not synthetic:
        try:
            from shadowplay.data import load_data
            return load_data("fashion-mnist").test.x[:n].contiguous(), "Fashion-MNIST test"
        except Exception as e:  # the Debian package or the loader is missing: say so, measure anyway
            print(f"note: Fashion-MNIST unavailable ({e}); using synthetic inputs")
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, *SHAPE, generator=g) < 0.3).float(), "SYNTHETIC binary"


def make_model(x_train: torch.Tensor, steps: int) -> torch.nn.Module:
    """The benchmark model, trained ``steps`` Adam steps (batch 128) so its likelihoods mean something."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(data_shape=SHAPE, latent_dim=LATENT, net="mlp", hidden=HIDDEN))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        out = model(x_train[torch.randint(len(x_train), (128,), generator=g)])
        kl = torch.distributions.kl_divergence(out.posterior, out.prior).sum(-1)
        loss = (kl - out.likelihood.log_prob(out.x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.inference_mode()
def loop_arm(model, x: torch.Tensor, k: int) -> np.ndarray:
    """One input at a time; its K draws in one batch; the encoder sees K copies (as ``get_nll`` does)."""
    out = np.empty(len(x))
    for i in range(len(x)):
        xr = x[i:i + 1].expand(k, *SHAPE)
        mu, logvar = model.encoder(xr).chunk(2, dim=-1)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        z = mu + std * eps
        log_q = (-0.5 * eps.square() - 0.5 * logvar).sum(-1)
        log_pz = (-0.5 * z.square()).sum(-1)
        logits = model.decoder(z).flatten(1)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, xr.flatten(1), reduction="none").sum(-1)
        out[i] = float(torch.logsumexp(log_px_z + log_pz - log_q, 0)) - math.log(k)
    return out


def pythae_model(model):
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self, net):
            BaseEncoder.__init__(self)
            self.net = net

        def forward(self, x):
            mu, logvar = self.net(x.flatten(1)).chunk(2, dim=1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self, net):
            BaseDecoder.__init__(self)
            self.net = net

        def forward(self, z):  # pythae's "bce" loss wants probabilities
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *SHAPE))

    import copy
    enc, dec = copy.deepcopy(model.encoder.net), copy.deepcopy(model.decoder.net)  # the same weights
    return VAE(VAEConfig(input_dim=SHAPE, latent_dim=LATENT, reconstruction_loss="bce"), Encoder(enc),
               Decoder(dec)).eval()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=1000)
    p.add_argument("--ks", default="10,1000", help="comma-separated K values")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds per K (median reported)")
    p.add_argument("--train-steps", type=int, default=300, help="Adam steps before timing (0: random weights)")
    p.add_argument("--max-rows", type=int, default=4096, help="shadowplay's decoder rows per pass")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--synthetic", action="store_true", help="random binary inputs instead of Fashion-MNIST")
    p.add_argument("--wall", action="store_true", help="time by wall clock even with one thread")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args()
    global CLOCK
    if a.threads:
        torch.set_num_threads(a.threads)
    if torch.get_num_threads() == 1 and not a.wall:
        CLOCK = time.thread_time  # all compute runs on this thread; neighbours' load does not count
    clock = "CPU time of the computing thread" if CLOCK is time.thread_time else "wall-clock time"
    x, source = load_inputs(a.inputs, a.synthetic)
    model = make_model(x if a.synthetic else load_inputs(5000, False)[0], a.train_steps)
    enc_f, dec_f = linear_flops(model.encoder), linear_flops(model.decoder)
    arms = {"shadowplay": lambda k: per_sample_likelihoods(model, x, k, max_rows=a.max_rows).log_px,
            "loop": lambda k: loop_arm(model, x, k)}
    try:
        pm = pythae_model(model)
        arms["pythae"] = lambda k: pm.get_nll(x, n_samples=k, batch_size=min(k, 100))  # mean log p(x)
    except ImportError:
        print("note: pythae is not installed (pip install -e '.[bench]'); skipping the pythae arm")
    print(f"{len(x)} inputs ({source}), MLP 784-512-256-16 Bernoulli, {torch.get_num_threads()} torch threads, "
          f"encoder {enc_f / 1e6:.2f} MFLOP, decoder {dec_f / 1e6:.2f} MFLOP per row; timed by {clock}")
    results: dict = {"inputs": len(x), "source": source, "threads": torch.get_num_threads(), "rounds": a.rounds,
                     "clock": clock,
                     "encoder_flops": enc_f, "decoder_flops": dec_f, "k": {}}
    for k in [int(s) for s in a.ks.split(",")]:
        times, walls = {n: [] for n in arms}, {n: [] for n in arms}
        mem, value, rates = {}, {}, []
        flops = len(x) * (enc_f + k * dec_f)  # the encoder is deterministic: once per input; the decoder K times
        for _ in range(a.rounds):
            for name, fn in arms.items():
                if name == "shadowplay":
                    rate = gemm_rate()  # measured next to the arm it judges: a shared machine drifts
                with PeakRSS() as peak:
                    t, w = CLOCK(), time.perf_counter()
                    v = fn(k)
                    times[name].append(CLOCK() - t)
                    walls[name].append(time.perf_counter() - w)
                if name == "shadowplay":
                    rates.append(0.5 * (rate + gemm_rate()))
                mem[name] = max(mem.get(name, 0.0), peak.mb)
                value[name] = float(np.mean(v))
        rate = statistics.median(rates)
        floor_s = flops / rate
        fractions = [flops / r / t for r, t in zip(rates, times["shadowplay"])]
        row = {"shadowplay_floor_fraction_per_round": fractions, "gemm_flops_per_round": rates}
        print(f"\nK = {k}: GEMM {rate / 1e9:.1f} GFLOP/s, FLOP floor {floor_s:.3f} s "
              f"({len(x) / floor_s:,.0f} inputs/s)")
        print(f"  {'arm':11s} {'inputs/s':>10s} {'seconds':>9s} {'floor frac':>10s} {'peak MB':>8s} "
              f"{'mean log p(x)':>14s}")
        for name in arms:
            s = statistics.median(times[name])
            frac = statistics.median(fractions) if name == "shadowplay" else floor_s / s
            row[name] = {"seconds": s, "inputs_per_s": len(x) / s, "floor_fraction": frac,
                         "peak_mb": mem[name], "mean_log_px": value[name], "all_seconds": times[name],
                         "wall_seconds": walls[name]}
            print(f"  {name:11s} {len(x) / s:10,.1f} {s:9.3f} {frac:10.2f} {mem[name]:8.0f} "
                  f"{value[name]:14.3f}")
        for other in ("loop", "pythae"):
            if other in row:
                row[f"shadowplay/{other}"] = row[other]["seconds"] / row["shadowplay"]["seconds"]
                print(f"  shadowplay / {other}: {row[f'shadowplay/{other}']:.1f}x")
        results["k"][str(k)] = {"gemm_flops": rate, "floor_seconds": floor_s, **row}
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
