#!/usr/bin/env python
"""Outlier detection: shadowplay's VAE scores against PyOD 3.6.7 (AutoEncoder, VAE), scikit-learn's IsolationForest
and PCA reconstruction, every arm in one run.

1. One-class Fashion-MNIST (the standard protocol): for each class c, train on the training images of c (train +
   validation splits, 6,000), score the test set (10,000; anomaly = any other class), AUROC per class and the mean.
2. Out-of-distribution pairs where raw likelihood fails: one model trained on Fashion-MNIST (all classes), scored on
   its test set against scikit-learn's digits (8×8, upscaled to 28×28) and procedural dSprites shapes (64×64,
   resized to 28×28); AUROC with the anomaly (digits / dSprites) as positive class.
3. Tabular: scikit-learn's breast-cancer data; benign = normal (70 % train, 30 % test), malignant rows subsampled to
   10 % of the test set as outliers; 5 seeds, mean ± std AUROC.

Arms (peers as shipped, defaults; only PyOD's ``verbose`` progress printing is switched off):
- shadowplay: ``VAEOutlierDetector`` (conv VAE, 16 latents, Bernoulli likelihood for images; MLP 64-32 with a
  Gaussian likelihood, 4 latents, on standardized columns for tabular), then every score of
  ``shadowplay.outliers`` computed on the trained model with one shared likelihood pass (K = ``--iw-samples``).
  The likelihood ratio needs a second (background) model, so it runs in the OOD part only.
- PyOD ``AutoEncoder()`` and ``VAE()``; scikit-learn ``IsolationForest(random_state=0)``; PCA reconstruction:
  ``PCA(n_components=0.9)`` (90 % of the variance), score = squared reconstruction error.

Usage: ``python benchmarks/outliers.py [--quick] [--epochs 10] [--json out.json] [--plot bars.png]``.
``--quick`` is a smoke run (2 classes, small subsets, 1 epoch; numbers meaningless).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import shadowplay  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from shadowplay.data import SourceOptions, load_data  # noqa: E402
from shadowplay.data.fashion_mnist import CLASSES  # noqa: E402
from shadowplay.outliers import (VAEOutlierDetector, combined_score, complexity_corrected,  # noqa: E402
                                 fit_aggregate_posterior, fit_combined, fit_typicality, kl_score, latent_density,
                                 latent_knn, likelihood_ratio, likelihoods, recon_error, typicality_statistic)

PEERS = ("pyod_ae", "pyod_vae", "iforest", "pca")


# ------------------------------------------------------------------ arms
def peer_scores(name: str, train: np.ndarray, test: np.ndarray, seed: int = 0) -> np.ndarray:
    """Higher = more abnormal, for flattened rows."""
    if name == "iforest":
        return -IsolationForest(random_state=seed).fit(train).score_samples(test)
    if name == "pca":
        p = PCA(n_components=0.9, random_state=seed).fit(train)
        return ((p.inverse_transform(p.transform(test)) - test) ** 2).sum(1)
    if name in ("pyod_ae", "pyod_vae"):
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.vae import VAE
        det = (AutoEncoder if name == "pyod_ae" else VAE)(verbose=0)
        return det.fit(train).decision_function(test)
    raise ValueError(name)


def shadowplay_scores(det: VAEOutlierDetector, x_train: torch.Tensor, x_test: torch.Tensor, k: int,
                      background=None, images: bool = True) -> dict[str, np.ndarray]:
    """Every score of ``shadowplay.outliers`` on ``x_test`` from the detector's trained model (one likelihood
    pass shared by the likelihood-based scores; references fitted on at most 2,000 training inputs, except
    ``combined``, whose reference scores are every training input's, as in the detector)."""
    m, ref = det.model_, x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:2000]]
    lk = likelihoods(m, x_test, k)
    nll = -lk.log_px
    agg = fit_aggregate_posterior(m, ref)
    out = {"elbo": -lk.elbo, "iwae": nll, "recon": recon_error(m, x_test), "kl": kl_score(m, x_test),
           "latent_density": latent_density(m, x_test, agg), "latent_knn": latent_knn(m, x_test, agg)}
    codes = fit_aggregate_posterior(m, x_train)  # as the detector fits `combined`: 2,000 codes, every input a reference
    out["combined"] = combined_score(m, x_test, codes, fit_combined(m, x_train, codes))
    typ = fit_typicality(-likelihoods(m, ref, k).log_px)
    out["typicality"] = typicality_statistic(nll, typ)
    if images:
        out["complexity"] = complexity_corrected(m, x_test, nll=nll)
    if background is not None:
        out["likelihood_ratio"] = likelihood_ratio(m, background, x_test, iw_samples=k, nll=nll)
    return out


def detector(a, **kw) -> VAEOutlierDetector:
    return VAEOutlierDetector(device="cpu", epochs=a.epochs, iw_samples=a.iw_samples, progress=False, **kw)


def auroc(is_anomaly: np.ndarray, s: np.ndarray) -> float:
    return 100 * float(roc_auc_score(is_anomaly, s))


# ------------------------------------------------------------------ parts
def one_class(a, log) -> dict:
    s = load_data("fashion-mnist")
    x_all, y_all = torch.cat([s.train.x, s.val.x]), torch.cat([s.train.labels, s.val.labels])
    x_te, y_te = s.test.x, s.test.labels.numpy()
    if a.n_test < len(x_te):
        pick = torch.randperm(len(x_te), generator=torch.Generator().manual_seed(0))[:a.n_test].sort().values
        x_te, y_te = x_te[pick], y_te[pick.numpy()]
    res: dict[str, dict[str, float]] = {}
    for c in a.classes:
        x = x_all[y_all == c][: a.n_train]
        anomaly = (y_te != c).astype(int)
        t0 = time.perf_counter()
        det = detector(a, outlier_score="recon", latent_dim=16, net="conv", contamination=0.1).fit(x.numpy())
        row = {k: auroc(anomaly, v) for k, v in shadowplay_scores(det, x, x_te, a.iw_samples).items()}
        t1 = time.perf_counter()
        for p in PEERS:
            row[p] = auroc(anomaly, peer_scores(p, x.flatten(1).numpy(), x_te.flatten(1).numpy()))
        res[CLASSES[c]] = row
        log(f"class {c} {CLASSES[c]:12s} " + " ".join(f"{k} {v:.1f}" for k, v in row.items())
            + f"  (shadowplay {t1 - t0:.0f} s, peers {time.perf_counter() - t1:.0f} s)")
    return res


def _resize(x: torch.Tensor, side: int = 28) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False).clamp(0, 1)


def ood_pairs(a, log) -> dict:
    from sklearn.datasets import load_digits

    s = load_data("fashion-mnist")
    g = torch.Generator().manual_seed(0)
    x_tr = torch.cat([s.train.x, s.val.x])
    x_tr = x_tr[torch.randperm(len(x_tr), generator=g)[: a.n_ood_train]]
    x_in = s.test.x[torch.randperm(len(s.test.x), generator=g)[: a.n_ood_test]]
    digits = _resize(torch.from_numpy(load_digits().images).float().div(16).unsqueeze(1))[: a.n_ood_test]
    sprites = _resize(load_data("dsprites", options=SourceOptions(n_samples=2 * a.n_ood_test)).train.x[: a.n_ood_test])
    det = detector(a, outlier_score="likelihood_ratio", latent_dim=16, net="conv").fit(x_tr.numpy())
    res = {}
    for name, x_out in (("digits", digits), ("dsprites", sprites)):
        x = torch.cat([x_in, x_out])
        anomaly = np.r_[np.zeros(len(x_in), int), np.ones(len(x_out), int)]
        scores = shadowplay_scores(det, x_tr, x, a.iw_samples, background=det.background_)
        row = {k: auroc(anomaly, v) for k, v in scores.items()}
        for p in PEERS:
            row[p] = auroc(anomaly, peer_scores(p, x_tr.flatten(1).numpy(), x.flatten(1).numpy()))
        res[f"fashion-mnist vs {name}"] = row
        log(f"{name:9s} " + " ".join(f"{k} {v:.1f}" for k, v in row.items()))
    return res


def tabular(a, log) -> dict:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)  # target 1 = benign
    benign, malignant = X[y == 1], X[y == 0]
    runs: dict[str, list[float]] = {}
    for seed in a.seeds:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(benign))
        n_tr = int(0.7 * len(benign))
        tr, te_in = benign[perm[:n_tr]], benign[perm[n_tr:]]
        n_out = int(round(len(te_in) / 9))  # outliers are 10 % of the test set
        te = np.vstack([te_in, malignant[rng.choice(len(malignant), n_out, replace=False)]])
        anomaly = np.r_[np.zeros(len(te_in), int), np.ones(n_out, int)]
        det = detector(a, outlier_score="iwae", latent_dim=4, hidden=(64, 32), likelihood="gaussian", seed=seed,
                       batch_size=32).fit(tr)
        x_tr, x_te = det._inputs(tr), det._inputs(te)
        row = {k: auroc(anomaly, v) for k, v in shadowplay_scores(det, x_tr, x_te, a.iw_samples,
                                                                    images=False).items()}
        # peers get the same standardization PyOD's preprocessing does; IsolationForest and PCA as is
        for p in PEERS:
            row[p] = auroc(anomaly, peer_scores(p, tr, te, seed))
        for k, v in row.items():
            runs.setdefault(k, []).append(v)
        log(f"seed {seed} " + " ".join(f"{k} {v:.1f}" for k, v in row.items()))
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for k, v in runs.items()}


# ------------------------------------------------------------------ tables
def table_one_class(res: dict) -> str:
    arms = list(next(iter(res.values())))
    lines = ["| class | " + " | ".join(arms) + " |", "|---|" + "---:|" * len(arms)]
    for c, row in res.items():
        best = max(row.values())
        lines.append(f"| {c} | " + " | ".join(f"**{row[k]:.1f}**" if row[k] == best else f"{row[k]:.1f}"
                                             for k in arms) + " |")
    means = {k: np.mean([row[k] for row in res.values()]) for k in arms}
    lines.append("| **mean** | " + " | ".join(f"**{means[k]:.1f}**" for k in arms) + " |")
    return "\n".join(lines)


def plot_bars(res: dict, arms: list[str], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(res)
    w = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for i, k in enumerate(arms):
        vals = [res[c][k] for c in classes]
        ax.bar(np.arange(len(classes)) + i * w, vals, w, label=f"{k} (mean {np.mean(vals):.1f})")
    ax.set_xticks(np.arange(len(classes)) + 0.4 - w / 2, classes, fontsize=8)
    ax.set_ylim(40, 100)
    ax.set_ylabel("AUROC (%)")
    ax.set_title("One-class Fashion-MNIST: AUROC per normal class")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_one_class(res: dict, path: str) -> None:
    """Bars for raw −ELBO, the best shadowplay score (by mean AUROC) and every peer."""
    row = next(iter(res.values()))
    best = max((k for k in row if k not in PEERS), key=lambda k: np.mean([r[k] for r in res.values()]))
    plot_bars(res, list(dict.fromkeys(["elbo", best, *PEERS])), path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny subsets, 1 epoch")
    p.add_argument("--parts", default="one_class,ood,tabular")
    p.add_argument("--classes", type=lambda v: [int(c) for c in v.split(",")], default=list(range(10)))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--iw-samples", type=int, default=4)
    p.add_argument("--n-train", type=int, default=6000, help="training images per class (one-class)")
    p.add_argument("--n-test", type=int, default=10000, help="test images (a seeded subset when < 10,000)")
    p.add_argument("--n-ood-train", type=int, default=20000)
    p.add_argument("--n-ood-test", type=int, default=1797)
    p.add_argument("--seeds", type=lambda v: [int(s) for s in v.split(",")], default=[0, 1, 2, 3, 4])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    p.add_argument("--plot", default=None, help="write the one-class per-class bar chart here")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="no training: merge the one-class results of earlier runs (e.g. classes split over two "
                        "processes), print the table and write --plot")
    a = p.parse_args()
    if a.merge:
        merged = {}
        for f in a.merge:
            merged.update(json.loads(Path(f).read_text()).get("one_class", {}))
        merged = {c: merged[c] for c in CLASSES if c in merged}
        print("One-class Fashion-MNIST, AUROC (%)\n" + table_one_class(merged))
        if a.plot:
            plot_one_class(merged, a.plot)
        return 0
    if a.quick:
        a.classes, a.epochs, a.n_train, a.n_test, a.n_ood_train, a.n_ood_test, a.seeds = [6], 1, 200, 300, 300, 100, [0]
    torch.set_num_threads(a.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import pyod
    import sklearn
    versions = {"torch": torch.__version__, "scikit-learn": sklearn.__version__, "pyod": pyod.__version__,
                "shadowplay": shadowplay.__version__}
    print(f"versions: {versions}; {a.threads} thread(s); epochs {a.epochs}, K {a.iw_samples}", flush=True)
    log = lambda m: print(m, flush=True)  # noqa: E731
    out: dict = {"versions": versions, "settings": {k: v for k, v in vars(a).items() if k not in ("json", "plot")}}
    t0 = time.perf_counter()
    parts = a.parts.split(",")
    if "one_class" in parts:
        out["one_class"] = one_class(a, log)
        print("\nOne-class Fashion-MNIST, AUROC (%)\n" + table_one_class(out["one_class"]), flush=True)
        if a.plot:
            plot_one_class(out["one_class"], a.plot)
    if "ood" in parts:
        out["ood"] = ood_pairs(a, log)
        arms = list(next(iter(out["ood"].values())))
        print("\nOOD pairs, AUROC (%)\n| pair | " + " | ".join(arms) + " |\n|---|" + "---:|" * len(arms))
        for pair, row in out["ood"].items():
            print(f"| {pair} | " + " | ".join(f"{row[k]:.1f}" for k in arms) + " |")
    if "tabular" in parts:
        out["tabular"] = tabular(a, log)
        print(f"\nBreast cancer (benign normal, malignant 10 % of test), AUROC (%) over {len(a.seeds)} seeds")
        print("| arm | mean ± std |\n|---|---:|")
        for k, v in out["tabular"].items():
            print(f"| {k} | {v['mean']:.1f} ± {v['std']:.1f} |")
    out["seconds"] = time.perf_counter() - t0
    print(f"\ntook {out['seconds']:.0f} s", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
