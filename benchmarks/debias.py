"""DB-VAE on biased-fmnist: worst-group accuracy of a plain classifier, DB-VAE (max and product combinations, a few
α) and an oracle that balances the true groups, all with the same encoder and the same fixed budget.

    python benchmarks/debias.py                    # the full protocol: 5 seeds, 3 epochs, rare fraction 0.5 %, curve
    python benchmarks/debias.py --quick            # smoke run on 2,000 images, 1 epoch, 1 seed (~1 min)
    python benchmarks/debias.py --seeds 3 --curve-seeds 1 --json out.json --plot curve.png

Every arm: an MLP encoder 784-256-(2·16 + 1) whose last output is the classifier logit (``head_dim`` 1), a decoder
16-256-784 with a Bernoulli likelihood, Adam lr 1e-3, batch 256, ``--epochs`` passes over the 54,000 training
images (DB-VAE's resampled epochs draw 54,000 inputs with replacement). The data are fixed per rare fraction (data
seed 0: the same inverted images and validation split for every arm); the seeds vary the training (initial weights,
batch order, noise). Scores: accuracy on the 20,000-image test set (every test image plain and inverted) per group
class × inverted; worst-group accuracy is the minimum of the four.

Target (issue 11): at rare fraction 0.5 % with 3 epochs, DB-VAE's mean worst-group accuracy ≥ 0.90 and ≥ 15 points
above the plain classifier's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

try:
    import shadowplay  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from shadowplay.config import RunConfig, set_keys  # noqa: E402
from shadowplay.debias import audit, predict  # noqa: E402
from shadowplay.run import RunFolder  # noqa: E402
from shadowplay.training import posterior_means  # noqa: E402
from shadowplay.workflow import build_objective, load_splits, model_spec  # noqa: E402
from shadowplay.workflow.training_run import _trainer  # noqa: E402  (a Trainer without a run's pictures)

# name → (model preset, resample mode, combine, α)
ARMS = {
    "plain": ("classifier", "none", "max", 1e-3),
    "dbvae-max a=1e-3": ("dbvae", "latent", "max", 1e-3),
    "dbvae-max a=1e-4": ("dbvae", "latent", "max", 1e-4),
    "dbvae-product a=1": ("dbvae", "latent", "product", 1.0),
    "dbvae-product a=0.1": ("dbvae", "latent", "product", 0.1),
    "dbvae-product a=0.3": ("dbvae", "latent", "product", 0.3),
    "oracle": ("classifier", "groups", "max", 1e-3),
}
CURVE_ARMS = "plain,dbvae-product a=0.3"
GROUPS = ("negative", "negative-inverted", "positive", "positive-inverted")


def config(fraction: float, arm: str, seed: int, epochs: int, n_samples: int | None) -> RunConfig:
    model, resample, combine, alpha = ARMS[arm]
    keys = {"data.source": "biased-fmnist", "data.rare_fraction": fraction, "data.n_samples": n_samples,
            "model.preset": model, "model.net": "mlp", "model.hidden": [256], "model.latent_dim": 16,
            "trainer.batch_size": 256, "trainer.epochs": epochs, "trainer.seed": seed, "trainer.progress": False,
            "trainer.device": "cpu", "trainer.keep_last": 1, "trainer.log_every": 1000, "debias.resample": resample,
            "debias.combine": combine, "debias.alpha": alpha}
    return set_keys(RunConfig(), {k: v for k, v in keys.items() if v is not None})


def run_arm(cfg: RunConfig, splits) -> dict[str, float]:
    """Train one arm on ``splits`` and audit its test predictions; returns worst-group and per-group accuracy."""
    built = build_objective(cfg)
    spec = model_spec(cfg, splits, built.posterior, built.classifier)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer(cfg, RunFolder(Path(tmp)), splits, built, spec, (), progress=False)
        trainer.fit()
        model = trainer.model.eval()
        test, val = splits.test, splits.val
        result = audit(predict(model, test.x), test.labels.numpy(), test.groups.numpy(), group_names=GROUPS,
                       permutations=0)  # accuracies only: no p-values of the gaps
        # group-free model selection: the worst accuracy over k-means clusters of the validation codes (what a user
        # without group labels can compute; the true groups are not used)
        blind = audit(predict(model, val.x), val.labels.numpy(), codes=posterior_means(model, val.x).cpu().numpy(),
                      n_clusters=8, permutations=0)
    return {"worst": result.worst_group_accuracy, **{g.name: g.accuracy for g in result.groups},
            "val_latent_worst": blind.worst_group_accuracy}


def sweep(fractions, arms, seeds, epochs, n_samples, log, first_seed: int = 0) -> dict:
    out: dict = {}
    for f in fractions:
        splits = load_splits(config(f, "plain", 0, epochs, n_samples))  # data seed 0 for every arm and seed
        for arm in arms:
            for seed in range(first_seed, first_seed + seeds):
                t0 = time.perf_counter()
                r = run_arm(config(f, arm, seed, epochs, n_samples), splits)
                out.setdefault(str(f), {}).setdefault(arm, []).append(r)
                log(f"rare {100 * f:g}%  {arm:<20s} seed {seed}: worst {r['worst']:.3f}  "
                    f"({time.perf_counter() - t0:.0f} s)")
    return out


def merge(paths: list[Path], fraction: float) -> tuple[dict, dict]:
    """Main-table and curve results of several ``--json`` files, runs of the same arm and fraction pooled."""
    main: dict = {}
    curve: dict = {}
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for part, into in (("main", main), ("curve", curve)):
            for f, arms in doc[part].items():
                for arm, runs in arms.items():
                    into.setdefault(f, {}).setdefault(arm, []).extend(runs)
    return main, {f: v for f, v in curve.items() if float(f) != fraction}


def summary(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs]))) for k in runs[0]}


def _worst(curve_results: dict, f: float, arm: str) -> tuple[float, float]:
    runs = curve_results.get(str(f), {}).get(arm)
    return summary(runs)["worst"] if runs else (float("nan"), float("nan"))


def table(results: dict, fraction: float) -> str:
    """The main table; the last column is the group-free selection criterion (worst validation latent cluster)."""
    rows = ["| arm | worst-group | " + " | ".join(GROUPS) + " | val. worst latent cluster |",
            "| --- |" + " ---: |" * (len(GROUPS) + 2)]
    for arm, runs in results[str(fraction)].items():
        s = summary(runs)
        cells = [f"{s[k][0]:.3f} ± {s[k][1]:.3f}" if k in s else "–" for k in ("worst", *GROUPS, "val_latent_worst")]
        rows.append(f"| {arm} ({len(runs)} seeds) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seeds", type=int, default=5, help="training seeds per arm of the main table")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training split, every arm")
    p.add_argument("--fraction", type=float, default=0.005, help="rare fraction of the main table")
    p.add_argument("--curve", default="0.0025,0.005,0.01,0.02,0.05", help="rare fractions of the curve ('' = none)")
    p.add_argument("--curve-seeds", type=int, default=5, help="training seeds per point of the curve")
    p.add_argument("--curve-arms", default=CURVE_ARMS, help="comma-separated arms of the curve")
    p.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms of the main table")
    p.add_argument("--n-samples", type=int, default=None, help="cap the train+val pool (None: all 60,000)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 images, 1 epoch, 1 seed, 2 arms")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed + 1, ...")
    p.add_argument("--merge", type=Path, nargs="+", help="train nothing: merge the --json files of earlier runs "
                                                          "(e.g. split over processes) and print their tables")
    p.add_argument("--json", type=Path, help="write every run's numbers here")
    p.add_argument("--plot", type=Path, help="write the worst-group-accuracy curve here (PNG)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    arms = [s for s in a.arms.split(",") if s]
    curve_arms = [s for s in a.curve_arms.split(",") if s]
    curve = [float(v) for v in a.curve.split(",") if v]
    if a.quick:
        a.seeds, a.curve_seeds, a.epochs, a.n_samples = 1, 1, 1, 2000
        arms, curve, curve_arms = ["plain", "dbvae-max a=1e-3"], [0.02], ["plain", "dbvae-product a=0.3"]
        a.fraction = 0.05
    t0 = time.perf_counter()
    if a.merge:
        results, curve_results = merge(a.merge, a.fraction)
    else:
        results = sweep([a.fraction], arms, a.seeds, a.epochs, a.n_samples, print, a.first_seed) \
            if arms and a.seeds else {}
        curve_results = sweep([f for f in curve if f != a.fraction], curve_arms, a.curve_seeds, a.epochs,
                              a.n_samples, print, a.first_seed) if curve else {}
    for f in curve:  # the main fraction's runs count for the curve too
        if f == a.fraction and results:
            curve_results[str(f)] = {arm: results[str(f)][arm][:a.curve_seeds] for arm in curve_arms
                                     if arm in results[str(f)]}
    if a.json:  # first, so that a failure in printing loses nothing
        a.json.write_text(json.dumps({"fraction": a.fraction, "epochs": a.epochs, "main": results,
                                      "curve": curve_results}, indent=1))
    if results.get(str(a.fraction)):
        print(f"\nrare fraction {100 * a.fraction:g} %, {a.epochs} epochs, mean ± std over seeds (test accuracy)\n")
        print(table(results, a.fraction))
    if curve:
        print("\nworst-group accuracy against the rare fraction\n")
        print("| arm | " + " | ".join(f"{100 * f:g} %" for f in curve) + " |")
        print("| --- |" + " ---: |" * len(curve))
        for arm in curve_arms:
            cells = [f"{m:.3f} ± {s:.3f} ({len(curve_results[str(f)][arm])})"
                     if arm in curve_results.get(str(f), {}) else "-"
                     for f in curve for m, s in [_worst(curve_results, f, arm)]]
            print(f"| {arm} | " + " | ".join(cells) + " |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if a.plot and curve:
        from shadowplay.debias.figures import rare_fraction_curve, save_figure
        series = {arm: tuple(zip(*[_worst(curve_results, f, arm) for f in curve])) for arm in curve_arms}
        save_figure(rare_fraction_curve(curve, series, target=0.9), a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
