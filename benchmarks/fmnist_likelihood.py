#!/usr/bin/env python
"""Quality on real data: an MLP VAE 784-512-256-16 (Bernoulli likelihood on grey levels, Kingma & Welling 2014)
trained on Fashion-MNIST for a fixed budget, then the test-set ELBO and the importance-weighted log p(x)
(Burda et al. 2016, eq. 8, K = 1000) in nats per image.

The whole pipeline is the public API: ``shadowplay.api.train`` then ``shadowplay.api.evaluate``; the run folder is
kept (``--runs-dir``), so ``shadowplay report <run>`` shows the pictures afterwards. A Bernoulli likelihood on grey
levels is not a normalized density of those levels, so these numbers compare with other grey-level Bernoulli
numbers, not with results on dynamically binarized MNIST-style data (``--binarize`` trains on
x ~ Bernoulli(intensity) instead, and then evaluates on the same grey levels).

Usage: ``python benchmarks/fmnist_likelihood.py [--epochs 10] [--iw-samples 1000] [--json out.json]``.
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--iw-samples", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=None, help="stop training after this many steps (smoke runs)")
    p.add_argument("--binarize", action="store_true", help="dynamic binarization during training")
    p.add_argument("--runs-dir", default="runs", help="where the run folder goes (default runs/)")
    p.add_argument("--name", default="fmnist-vae16")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    overrides = {"model.hidden": [512, 256], "model.likelihood": "bernoulli", "trainer.batch_size": a.batch_size,
                 "data.binarize": a.binarize, "trainer.max_steps": a.max_steps}
    t0 = time.perf_counter()
    run = api.train(data="fashion-mnist", model="vae", latent_dim=16, net="mlp", epochs=a.epochs, seed=0,
                    runs_dir=a.runs_dir, name=a.name, overwrite=True, progress=False, overrides=overrides)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = api.evaluate(run.path, "test", a.iw_samples)
    eval_s = time.perf_counter() - t0
    lk, dg = ev.document["likelihood"], ev.document["diagnostics"]
    rows = [("test ELBO", "elbo"), ("  reconstruction E_q[log p(x|z)]", "recon_ll"), ("  KL", "kl"),
            (f"test log p(x), IWAE K={a.iw_samples}", "log_px"), ("bits per dimension (IWAE)", "bits_per_dim")]
    print(f"Fashion-MNIST, MLP VAE 784-512-256-16 Bernoulli, {run.result.epoch} epochs ({run.result.step} steps, "
          f"batch {a.batch_size}{', dynamic binarization' if a.binarize else ''}) in {train_s:.0f} s; "
          f"evaluation of {ev.document['n_inputs']} test images in {eval_s:.0f} s "
          f"({torch.get_num_threads()} torch threads)")
    for label, key in rows:
        print(f"  {label:36s} {lk[key]:10.2f} ± {lk[key + '_sem']:.2f}")
    print(f"  {'active units':36s} {dg['n_active']:10d} / {len(dg['active'])}")
    print(f"run folder: {run.path}")
    if a.json:
        Path(a.json).write_text(json.dumps({"epochs": run.result.epoch, "steps": run.result.step,
                                            "train_seconds": train_s, "eval_seconds": eval_s,
                                            "iw_samples": a.iw_samples, "binarize": a.binarize,
                                            "likelihood": lk, "n_active": dg["n_active"],
                                            "run": str(run.path)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
