#!/usr/bin/env python
"""Disentanglement quality on procedural dSprites: VAE, β-VAE (β=4), β-TCVAE (β=6), FactorVAE (γ=35) and
DIP-VAE-I (λ_od=10, λ_d=100), 3 seeds each, scored with MIG, DCI disentanglement and the FactorVAE score.

It writes a study file and runs it with ``shadowplay study`` (``shadowplay.api.study``): each run is
``shadowplay train`` then ``shadowplay evaluate --metrics mig,dci,factor_vae --checkpoint last`` in child
processes, two at a time, so a killed benchmark started again resumes where it stopped. Output (default
``benchmarks/out/dsprites_disentanglement/``): the study's ``results.csv``, ``summary.csv``, plots, and
``table.md`` (the table for ``benchmarks/README.md``).

Budget (sized for a shared 2-core CPU machine, about 40 minutes; the published protocol of Locatello et al. 2019
trains 300,000 steps at batch 64 with Adam lr 1e-4, i.e. 200× more updates):

- data: 20,000 procedural dSprites images (16,000 train / 2,000 val / 2,000 test), Bernoulli likelihood;
- model: the β-VAE conv net (4×4 stride-2 convolutions, 256-unit fc) with narrower channels (16, 16, 32, 32)
  instead of (32, 32, 64, 64), 10 latents;
- training: ``--steps`` (default 1,500) Adam steps at batch 64, lr 1e-3 (the reference 1e-4 barely moves in this
  budget); FactorVAE keeps the paper's discriminator (6×1000 LeakyReLU, Adam 1e-4, betas 0.5/0.9);
- metrics on the last checkpoint: MIG (20 bins) and DCI on the 2,000 test images' posterior means, DCI with 25
  boosting stages instead of 100, FactorVAE score with 1,000/500 training/evaluation votes of 64 and 5,000 points
  for the scale (reference: 10,000/5,000 and 10,000).

Usage: ``python benchmarks/dsprites_disentanglement.py [--steps N] [--jobs J] [--seeds 0 1 2] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
try:
    import shadowplay  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

from shadowplay import api  # noqa: E402
from shadowplay.errors import ShadowplayError  # noqa: E402

MODELS = [{"preset": "vae"}, {"preset": "beta_vae", "beta": [4]}, {"preset": "beta_tcvae", "beta": [6]},
          {"preset": "factor_vae", "tc_weight": [35]}, {"preset": "dip_vae_i", "extra.lambda_od": [10]}]
COLUMNS = [("mig", "MIG"), ("dci.disentanglement", "DCI disentanglement"), ("factor_vae", "FactorVAE score"),
           ("elbo", "test ELBO (nats)")]


def study_doc(steps: int, seeds: list[int], quick: bool, precision: str = "fp32",
              models: list[str] | None = None) -> dict:
    n = 2_000 if quick else 20_000
    return {
        "output": "study",
        "base": {"data": {"source": "dsprites", "n_samples": n},
                 "model": {"latent_dim": 10, "net": "conv", "channels": [16, 16, 32, 32]},
                 "trainer": {"batch_size": 64, "lr": 1e-3, "max_steps": steps, "epochs": 10_000, "log_every": 100,
                             "precision": precision}},
        "models": [m for m in MODELS if models is None or m["preset"] in models], "seeds": seeds,
        "metrics": ["mig", "dci", "factor_vae"],
        "evaluation": {"split": "test", "iw_samples": 1, "seed": 0, "options": {
            "dci": {"n_estimators": 5 if quick else 25},
            "factor_vae": {"n_train": 100 if quick else 1000, "n_eval": 50 if quick else 500,
                           "n_variance_estimate": 1000 if quick else 5000}}},
    }


def markdown_table(summary: list[dict], steps: int, seeds: list[int]) -> str:
    head = "| model | " + " | ".join(c for _, c in COLUMNS) + " | runs |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for s in summary:
        cells = []
        for key, _ in COLUMNS:
            m, sd = s.get(f"{key}.mean"), s.get(f"{key}.std")
            digits = 1 if key == "elbo" else 3
            if m is None:
                cells.append("–")
            elif s["n"] < 2 or sd is None:  # one seed has no spread: a "± 0.000" would claim a measured one
                cells.append(f"{m:.{digits}f}")
            else:
                cells.append(f"{m:.{digits}f} ± {sd:.{digits}f}")
        lines.append(f"| {s['model']} | " + " | ".join(cells) + f" | {s['n']} |")
    spread = "mean ± sample std" if len(seeds) > 1 else "the one run's value"
    return "\n".join(lines) + f"\n\n{spread} over seeds {seeds}; {steps} steps at batch 64 per run.\n"


def _models(value: str) -> list[str]:
    """``--models``: comma-separated presets of ``MODELS``; a misspelt one is an argparse error, not an empty study."""
    names, known = [v.strip() for v in value.split(",") if v.strip()], [m["preset"] for m in MODELS]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {', '.join(unknown) or repr(value)}; "
                                         f"choose from {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=1500, help="Adam steps per run (trainer.max_steps)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at the same time (child processes)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="trainer.seed of each run of a model")
    p.add_argument("--quick", action="store_true", help="smoke test: 2,000 images, small metric budgets")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="trainer.precision of every run (bf16: autocast nets, ~1.2x faster conv steps on this CPU)")
    p.add_argument("--models", type=_models, default=None,
                   help="comma-separated presets to run and tabulate (default all five); finished runs of the "
                        "others stay on disk, and a later call without --models tabulates all of them")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "out" / "dsprites_disentanglement",
                   help="folder of study.yaml, the study's runs and table.md")
    a = p.parse_args(argv)
    a.output.mkdir(parents=True, exist_ok=True)
    path = a.output / "study.yaml"
    path.write_text(yaml.safe_dump(study_doc(a.steps, a.seeds, a.quick, a.precision, a.models), sort_keys=False))
    t0 = time.perf_counter()
    try:
        res = api.study(path, jobs=a.jobs)
    except ShadowplayError as e:  # a user's problem (a bad study, data, budget): one line, as the CLI prints it
        print(f"error: {e}", file=sys.stderr)
        return 2
    minutes = (time.perf_counter() - t0) / 60
    summary = json.loads(res.files["summary_json"].read_text())
    table = markdown_table(summary, a.steps, a.seeds)
    (a.output / "table.md").write_text(table + f"wall time of this call: {minutes:.1f} min, {a.jobs} jobs.\n")
    print(table)
    print(f"wall time {minutes:.1f} min; files in {res.output}")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
