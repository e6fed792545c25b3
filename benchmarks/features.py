#!/usr/bin/env python
"""Feature reduction on Fashion-MNIST: an autoencoder and a VAE (``shadowplay.sklearn.VAEEmbedding``) against PCA
at the same number of dimensions, every arm in one run.

For each dimension d (default 2, 8, 16, 32), fitted on the same ``--n-train`` training images (a seeded subset of
the 54,000 training rows of ``load_data("fashion-mnist")``) and scored on the official test set:

- **reconstruction error**: Σ_pixels (x − x̂)² per test image (mean ± standard error); PCA's x̂ is
  ``inverse_transform(transform(x))``, the AE's and VAE's the decoder mean at the posterior mean (the same call);
- **linear probe**: ``LogisticRegression`` (lbfgs, ``StandardScaler`` first) trained on the training codes,
  accuracy on the test codes; the same probe on the 784 raw pixels is the reference;
- **k-means**: ``KMeans(10)`` on the test codes, adjusted Rand index and NMI against the 10 labels.

Arms: ``PCA(d)``; ``ae``: VAEEmbedding(model="ae") with a Gaussian likelihood of fixed σ (``--ae-scale``), i.e. a
squared-error objective, the criterion PCA minimizes among linear maps; ``vae``: VAEEmbedding(model="vae") with the
library's default for data in [0, 1] (Bernoulli). Both MLP 784-512-256-d, Adam, ``--epochs`` epochs.

Targets (issue 14): the AE's test reconstruction error below PCA's at every d ≤ 16; the VAE's linear-probe accuracy
above PCA's at d = 2 and 8. Usage: ``python benchmarks/features.py [--quick] [--json out.json] [--plot out.png]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
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
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from shadowplay.sklearn import VAEEmbedding  # noqa: E402

ARMS = ("pca", "ae", "vae")


def load(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """``(x_train (n, 784), y_train, x_test (m, 784), y_test, description)``."""
    if not args.synthetic:
        try:
            from shadowplay.data import load_data
            s = load_data("fashion-mnist")
            train = torch.cat([s.train.x, s.val.x]), torch.cat([s.train.labels, s.val.labels])
            pick = np.random.default_rng(args.seed).permutation(len(train[0]))[:args.n_train]
            xt, yt = train[0][pick], train[1][pick]
            xs, ys = s.test.x[:args.n_test], s.test.labels[:args.n_test]
            flat = lambda t: t.reshape(len(t), -1).numpy().astype(np.float32)  # noqa: E731
            return (flat(xt), yt.numpy(), flat(xs), ys.numpy(),
                    f"Fashion-MNIST: {len(xt):,} training images (seeded subset), {len(xs):,} official test images")
        except Exception as e:  # the Debian package is missing: say so and use synthetic data
            print(f"Fashion-MNIST unavailable ({e}); using synthetic data", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    n = args.n_train + args.n_test
    y = rng.integers(0, 10, n)
    protos = rng.random((10, 784)) ** 3
    x = np.clip(protos[y] + 0.15 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32)
    return (x[:args.n_train], y[:args.n_train], x[args.n_train:], y[args.n_train:],
            f"synthetic: 10 noisy prototypes, {args.n_train} train / {args.n_test} test rows")


def fit_arm(arm: str, d: int, x: np.ndarray, args):
    if arm == "pca":
        return PCA(n_components=d, random_state=args.seed).fit(x)
    extra = dict(likelihood="gaussian", overrides={"model.scale": args.ae_scale}) if arm == "ae" else {}
    return VAEEmbedding(n_components=d, model=arm, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        hidden=tuple(args.hidden), seed=args.seed, device="cpu", **extra).fit(x)


def probe(z_train, y_train, z_test, y_test, seed: int) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    return float(clf.fit(z_train, y_train).score(z_test, y_test))


def score_arm(est, x_tr, y_tr, x_te, y_te, seed: int) -> dict[str, float]:
    z_tr, z_te = est.transform(x_tr), est.transform(x_te)
    sse = ((est.inverse_transform(z_te) - x_te) ** 2).sum(axis=1)
    km = KMeans(n_clusters=10, n_init=10, random_state=seed).fit_predict(z_te)
    return {"recon_sse": float(sse.mean()), "recon_sse_sem": float(sse.std(ddof=1) / math.sqrt(len(sse))),
            "probe_acc": probe(z_tr, y_tr, z_te, y_te, seed), "kmeans_ari": float(adjusted_rand_score(y_te, km)),
            "kmeans_nmi": float(normalized_mutual_info_score(y_te, km))}


def figure(res: dict):
    """The four panels against d, under a title saying which data, budget and arms they come from."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dims = [int(d) for d in res["dims"]]
    fig = Figure(figsize=(13, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    panels = [("recon_sse", "test reconstruction error\n(sum of squares per image)"),
              ("probe_acc", "linear-probe accuracy"), ("kmeans_ari", "k-means (10) ARI"),
              ("kmeans_nmi", "k-means (10) NMI")]
    for ax, (key, title) in zip(axes, panels):
        for i, arm in enumerate(ARMS):
            ax.plot(dims, [res["dims"][str(d)][arm][key] for d in dims], "o-", color=f"C{i}", label=arm.upper())
        if key == "probe_acc":
            ax.axhline(res["raw_probe_acc"], color="k", ls="--", lw=1, label="raw pixels")
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("dimensions")
        ax.set_title(title, fontsize=9)
    axes[1].legend(fontsize=8)
    a = res["args"]
    fig.suptitle(f"Feature reduction, PCA vs AE vs VAE codes: {res['data']}; AE/VAE MLP "
                 f"{'-'.join(map(str, a['hidden']))}, {a['epochs']} epochs, batch {a['batch_size']}, seed {a['seed']}"
                 + (" (--quick smoke run: not a result)" if a.get("quick") else ""), fontsize=9)
    fig.tight_layout()
    return fig


def plot(res: dict, path: Path) -> None:
    figure(res).savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                 epilog="The full run takes ~18 min on a busy 2-core machine; --quick --synthetic "
                                        "~15 s.")
    ap.add_argument("--dims", default="2,8,16,32", help="code sizes d to compare, comma-separated")
    ap.add_argument("--n-train", type=int, default=6_000, help="training images (seeded subset of 54,000)")
    ap.add_argument("--n-test", type=int, default=5_000, help="first images of the official test set scored")
    ap.add_argument("--epochs", type=int, default=8, help="training epochs of the AE and VAE")
    ap.add_argument("--batch-size", type=int, default=64, help="AE/VAE minibatch")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--hidden", type=int, nargs="+", default=[512, 256], help="MLP widths of encoder and decoder")
    ap.add_argument("--ae-scale", type=float, default=0.1, help="the AE's fixed Gaussian σ (only scales its loss)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--seed", type=int, default=0, help="subset, initialization, probes and k-means")
    ap.add_argument("--synthetic", action="store_true", help="synthetic data instead of Fashion-MNIST")
    ap.add_argument("--quick", action="store_true", help="smoke run: 400 train / 200 test rows, dims 2,4, 1 epoch")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    ap.add_argument("--plot", default=None, help="draw the four measures against d to this PNG")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.dims, args.hidden = 400, 200, 1, "2,4", [32]
    torch.set_num_threads(args.threads)
    dims = [int(d) for d in args.dims.split(",")]
    x_tr, y_tr, x_te, y_te, desc = load(args)
    print(f"data: {desc}")
    print(f"torch {torch.__version__}, {args.threads} thread(s); AE/VAE: MLP {x_tr.shape[1]}-"
          f"{'-'.join(map(str, args.hidden))}-d, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}")
    t0 = time.perf_counter()
    res: dict = {"data": desc, "args": vars(args), "dims": {}, "torch": torch.__version__}
    t = time.perf_counter()
    res["raw_probe_acc"] = probe(x_tr, y_tr, x_te, y_te, args.seed)
    res["raw_probe_seconds"] = time.perf_counter() - t
    for d in dims:
        row = {}
        for arm in ARMS:
            t = time.perf_counter()
            est = fit_arm(arm, d, x_tr, args)
            fit_s = time.perf_counter() - t
            row[arm] = {**score_arm(est, x_tr, y_tr, x_te, y_te, args.seed), "fit_seconds": fit_s}
            print(f"  d={d:<3d} {arm:4s} fit {fit_s:6.1f} s  " + "  ".join(
                f"{k} {v:.4g}" for k, v in row[arm].items() if k != "fit_seconds"), flush=True)
        res["dims"][str(d)] = row
    res["seconds"] = time.perf_counter() - t0
    report(res, dims)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    if args.plot:
        plot(res, Path(args.plot))
    return 0


def report(res: dict, dims: list[int]) -> None:
    r = res["dims"]
    print("\nreconstruction error on the test set: sum over the 784 pixels of (x - x_hat)^2, mean ± sem per image")
    print(f"{'dim':>4s} {'PCA':>16s} {'AE':>16s} {'VAE':>16s} {'AE/PCA':>7s} {'VAE/PCA':>8s}")
    for d in dims:
        c = r[str(d)]
        cell = lambda a: f"{c[a]['recon_sse']:8.2f} ± {c[a]['recon_sse_sem']:5.2f}"  # noqa: E731
        print(f"{d:4d} {cell('pca'):>16s} {cell('ae'):>16s} {cell('vae'):>16s} "
              f"{c['ae']['recon_sse'] / c['pca']['recon_sse']:7.3f} {c['vae']['recon_sse'] / c['pca']['recon_sse']:8.3f}")
    print(f"\nlinear-probe accuracy (LogisticRegression on standardized features); raw pixels: "
          f"{res['raw_probe_acc']:.4f}")
    print(f"{'dim':>4s} {'PCA':>7s} {'AE':>7s} {'VAE':>7s}")
    for d in dims:
        c = r[str(d)]
        print(f"{d:4d} " + " ".join(f"{c[a]['probe_acc']:7.4f}" for a in ARMS))
    print("\nk-means (10 clusters) on the test codes against the labels")
    print(f"{'dim':>4s} {'ARI PCA':>8s} {'ARI AE':>7s} {'ARI VAE':>8s} {'NMI PCA':>8s} {'NMI AE':>7s} {'NMI VAE':>8s}")
    for d in dims:
        c = r[str(d)]
        print(f"{d:4d} " + " ".join(f"{c[a]['kmeans_ari']:8.4f}" for a in ARMS) + " "
              + " ".join(f"{c[a]['kmeans_nmi']:8.4f}" for a in ARMS))
    print("\ntargets" + (" (a --quick smoke run trains for one epoch: these lines only show that every arm ran)"
                         if res["args"].get("quick") else ""))
    for d in [d for d in dims if d <= 16]:
        c = r[str(d)]
        ok = c["ae"]["recon_sse"] < c["pca"]["recon_sse"]
        print(f"  AE reconstruction below PCA at d={d}: {'met' if ok else 'NOT met'} "
              f"({c['ae']['recon_sse']:.2f} vs {c['pca']['recon_sse']:.2f})")
    for d in [d for d in dims if d in (2, 8)]:
        c = r[str(d)]
        ok = c["vae"]["probe_acc"] > c["pca"]["probe_acc"]
        print(f"  VAE linear probe above PCA at d={d}: {'met' if ok else 'NOT met'} "
              f"({c['vae']['probe_acc']:.4f} vs {c['pca']['probe_acc']:.4f})")
    print(f"\ntotal {res['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
