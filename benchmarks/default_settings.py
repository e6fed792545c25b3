"""Do the defaults learn? `shadowplay train --data X` with no other option, on the data a new user brings.

Three data sets, all made or shipped locally (nothing is downloaded):

- ``digits``: scikit-learn's 8×8 digits (the built-in source);
- ``images``: a folder of 200 RGB 32×32 PNGs written here (coloured ellipses and boxes of random size, position and
  colour on a random background colour; 4 generating factors per image besides the colours);
- ``csv``: scikit-learn's breast-cancer table (569 rows × 30 numeric columns) written as a CSV with a header.

For each data set and each setting (``--setting NAME=override,override ...``; ``defaults`` is no override at all)
one run is trained and the table shows what a user would look at: validation ELBO, total KL, active units
(Burda et al. 2016 §5.2, Var_x E_q[z_d] > 0.01), steps and wall time. A run that learned nothing has KL ≈ 0 and
0 active units.

    python benchmarks/default_settings.py                      # the shipped defaults, ~3 min on 2 busy cores
    python benchmarks/default_settings.py --setting old="trainer.epochs=30,objective.warmup_steps=0,..."
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import shadowplay  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def write_image_folder(root: Path, n: int = 200, size: int = 32, seed: int = 0) -> Path:
    """``n`` RGB PNGs of one shape (ellipse or box) each, random position, size and colours."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        bg = tuple(int(c) for c in rng.integers(0, 120, 3))
        im = Image.new("RGB", (size, size), bg)
        draw = ImageDraw.Draw(im)
        r = rng.uniform(0.15, 0.35) * size
        cx, cy = rng.uniform(r, size - r, 2)
        fg = tuple(int(c) for c in rng.integers(120, 256, 3))
        box = (cx - r, cy - r, cx + r, cy + r)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fg)
        im.save(root / f"img_{i:04d}.png")
    return root


def write_csv(path: Path) -> Path:
    """scikit-learn's breast-cancer features (569 × 30) as a CSV with a header row."""
    from sklearn.datasets import load_breast_cancer

    ds = load_breast_cancer()
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([n.replace(" ", "_") for n in ds.feature_names])
        w.writerows(ds.data.tolist())
    return path


def measure(source: str, overrides: list[str], runs_dir: Path, name: str) -> dict:
    import shadowplay as sp
    from shadowplay.api.runs import load_splits
    from shadowplay.evaluation import latent_diagnostics

    t0 = time.perf_counter()
    run = sp.train(data=source, overrides=overrides, runs_dir=runs_dir, name=name, progress=False)
    seconds = time.perf_counter() - t0
    splits = load_splits(run.config)
    diag = latent_diagnostics(sp.load(run.path), splits.val.x)
    return {"elbo": run.result.val_metrics.get("elbo", float("nan")), "kl": float(diag.kl_per_dim.sum()),
            "active": f"{diag.n_active}/{len(diag.active)}", "steps": run.result.step, "s": seconds}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--setting", action="append", default=[], metavar="NAME=K=V,K=V",
                   help="a named list of overrides to compare with the defaults (repeatable)")
    p.add_argument("--data", nargs="*", default=["digits", "images", "csv"], help="which data sets")
    p.add_argument("--no-defaults", action="store_true", help="skip the no-option run")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    settings = [] if a.no_defaults else [("defaults", [])]
    for s in a.setting:
        name, _, rest = s.partition("=")
        settings.append((name, [o for o in rest.split(",") if o]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"digits": "digits", "images": str(write_image_folder(tmp / "images")),
                   "csv": str(write_csv(tmp / "breast_cancer.csv"))}
        print(f"{'data':8} {'setting':14} {'val ELBO':>10} {'KL':>8} {'active':>7} {'steps':>6} {'time s':>7}")
        for data in a.data:
            for name, overrides in settings:
                r = measure(sources[data], overrides, tmp / "runs", f"{data}-{name}")
                print(f"{data:8} {name:14} {r['elbo']:10.2f} {r['kl']:8.3f} {r['active']:>7} {r['steps']:6d} "
                      f"{r['s']:7.1f}", flush=True)


if __name__ == "__main__":
    main()
