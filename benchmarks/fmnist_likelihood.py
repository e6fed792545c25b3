#!/usr/bin/env python
"""Quality on real data: an MLP VAE 784-512-256-16 (Bernoulli likelihood on grey levels, Kingma & Welling 2014)
trained on Fashion-MNIST for a fixed budget, then the test-set ELBO and the importance-weighted log p(x)
(Burda et al. 2016, eq. 8, K = 1000) in nats per image.

The whole pipeline is the public API: ``shadowplay.api.train`` then ``shadowplay.api.evaluate``; the run folder is
kept (``--runs-dir``), so ``shadowplay report <run>`` shows the pictures afterwards. A Bernoulli likelihood on grey
levels is not a normalized density of those levels, so these numbers compare with other grey-level Bernoulli
numbers, not with results on dynamically binarized MNIST-style data (``--binarize`` trains on
x ~ Bernoulli(intensity) instead, and then evaluates on the same grey levels).

``--precision fp32,bf16`` trains one run per precision (bf16: the nets under autocast, issue 12) and prints them
side by side with the bf16 − fp32 test-ELBO gap (target: within 0.5 nats after 10 epochs); a value with
``+compile`` (``bf16+compile``) also sets ``trainer.compile=true``.

Usage: ``python benchmarks/fmnist_likelihood.py [--epochs 10] [--iw-samples 1000] [--precision fp32,bf16]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import shadowplay  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from shadowplay import api  # noqa: E402


def one_run(a: argparse.Namespace, precision: str) -> dict:
    """Train in ``precision`` (``trainer.precision``, ``+compile`` for ``trainer.compile=true``), evaluate in
    float32; the numbers of one table column."""
    mode, _, compiled = precision.partition("+")  # checked in main, before any run trains
    overrides = {"model.hidden": [512, 256], "model.likelihood": "bernoulli", "trainer.batch_size": a.batch_size,
                 "data.binarize": a.binarize, "trainer.max_steps": a.max_steps, "trainer.precision": mode,
                 "trainer.compile": bool(compiled)}
    t0 = time.perf_counter()
    tag = precision.replace("+", "-")
    name = (a.name if precision == "fp32" else f"{a.name}-{tag}") + (f"-s{a.seed}" if a.seed else "")
    run = api.train(data="fashion-mnist", model="vae", latent_dim=16, net="mlp", epochs=a.epochs, seed=a.seed,
                    runs_dir=a.runs_dir, name=name, overwrite=True, progress=False, overrides=overrides)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = api.evaluate(run.path, "test", a.iw_samples)
    eval_s = time.perf_counter() - t0
    lk, dg = ev.document["likelihood"], ev.document["diagnostics"]
    return {"precision": precision, "seed": a.seed, "epochs": run.result.epoch, "steps": run.result.step, "train_seconds": train_s,
            "eval_seconds": eval_s, "iw_samples": a.iw_samples, "binarize": a.binarize, "likelihood": lk,
            "n_active": dg["n_active"], "latent_dim": len(dg["active"]), "run": str(run.path)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--iw-samples", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=None, help="stop training after this many steps (smoke runs)")
    p.add_argument("--binarize", action="store_true", help="dynamic binarization during training")
    p.add_argument("--runs-dir", default="runs", help="where the run folder goes (default runs/)")
    p.add_argument("--name", default="fmnist-vae16")
    p.add_argument("--seed", type=int, default=0, help="trainer.seed (weights, batch order, noise; the split is fixed)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--precision", default="fp32", help="comma-separated trainer.precision values, one run and one "
                   "column each, e.g. fp32,bf16,bf16+compile (default fp32)")
    p.add_argument("--json", default=None, help="write the results here (one document per precision if several)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    precisions = [v for v in a.precision.split(",") if v]
    bad = [v for v in precisions if v.partition("+")[2] not in ("", "compile")]
    if bad:  # refused before the first run trains, not after it
        p.error(f"--precision: {bad[0]!r} is not a precision or precision+compile")
    results = {prec: one_run(a, prec) for prec in precisions}
    rows = [("test ELBO", "elbo"), ("  reconstruction E_q[log p(x|z)]", "recon_ll"), ("  KL", "kl"),
            (f"test log p(x), IWAE K={a.iw_samples}", "log_px"), ("bits per dimension (IWAE)", "bits_per_dim")]
    first = next(iter(results.values()))
    print(f"Fashion-MNIST, MLP VAE 784-512-256-16 Bernoulli, {first['epochs']} epochs ({first['steps']} steps, "
          f"batch {a.batch_size}{', dynamic binarization' if a.binarize else ''}), {torch.get_num_threads()} torch "
          "threads; evaluation always in float32")
    print(f"  {'':36s}" + "".join(f"{prec:>18s}" for prec in results))
    for label, key in rows:
        print(f"  {label:36s}" + "".join(f"{r['likelihood'][key]:10.2f} ± {r['likelihood'][key + '_sem']:5.2f}"
                                         for r in results.values()))
    print(f"  {'active units':36s}" + "".join(f"{r['n_active']:>13d} / {r['latent_dim']:<2d}" for r in results.values()))
    print(f"  {'train / eval seconds':36s}" + "".join(f"{r['train_seconds']:>11.0f} / {r['eval_seconds']:<4.0f}"
                                                     for r in results.values()))
    if "fp32" in results and len(results) > 1:
        for prec, r in results.items():
            if prec != "fp32":
                gap = r["likelihood"]["elbo"] - results["fp32"]["likelihood"]["elbo"]
                print(f"  test ELBO {prec} − fp32: {gap:+.2f} nats   (target |gap| <= 0.5)")
    for prec, r in results.items():
        print(f"run folder ({prec}): {r['run']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results if len(results) > 1 else first, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
