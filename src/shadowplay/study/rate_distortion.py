"""The rate–distortion view of a study over β (Alemi et al. 2018, "Fixing a Broken ELBO", ICML).

For an encoder q(z|x), decoder p(x|z) and prior p(z), on the evaluation split (default test), in nats per input:

- rate       R = E_x[ KL(q(z|x) ‖ p(z)) ]          (Alemi et al., eq. 5)
- distortion D = −E_x[ E_q(z|x)[ log p(x|z) ] ]   (eq. 4)

so that ELBO = −(D + R) (eq. 6), and lines of equal ELBO are the lines R + D = const of slope −1 in the (D, R)
plane. A β-VAE minimizes D + β·R (eq. 8): β < 1 buys rate, β > 1 sells it, and the runs of a β sweep trace the
model's rate–distortion curve. Both numbers come from ``shadowplay evaluate``'s summary of the study's evaluation
split (``kl`` and ``recon_ll``, the latter averaged over ``evaluation.iw_samples`` draws).

Written by :func:`write_rate_distortion` whenever a preset of the study ran at two or more β values:
``rate_distortion.csv`` (one row per run) and ``plots/rate_distortion.png`` (D on the x axis, R on the y axis as in
Alemi et al., fig. 1; each run a dot, the mean over seeds joined in β order, one line per grid point without its β,
dashed lines of equal ELBO).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..reports.plotting import figure, save


def rate_distortion_rows(rows: list[dict[str, Any]], betas: dict[str, float | None],
                         curves: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per run that has a rate and a distortion (a plain autoencoder has no rate and is left out).

    ``rows`` are the study's result rows (``name``, ``preset``, ``seed``, ``rate``, ``distortion``); ``betas``
    maps a run name to its β (``None``: the preset's default); ``curves`` maps it to the β curve it lies on (its
    grid point without β, ``aggregate.curve_label``; default: its preset), the line the figure joins it into.
    """
    out = []
    for r in rows:
        rate, dist = r.get("rate"), r.get("distortion")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (rate, dist)):
            continue
        out.append({"name": r["name"], "model": r.get("model", r["name"]), "preset": r["preset"],
                    "curve": (curves or {}).get(r["name"], r["preset"]),
                    "beta": betas.get(r["name"]), "seed": r["seed"], "rate": float(rate),
                    "distortion": float(dist), "elbo": -(float(rate) + float(dist))})
    return out


def varies_beta(rd_rows: list[dict[str, Any]]) -> bool:
    """True when some curve (by default a preset) ran at two or more explicit β values."""
    seen: dict[str, set[float]] = {}
    for r in rd_rows:
        if r["beta"] is not None:
            seen.setdefault(r.get("curve", r["preset"]), set()).add(float(r["beta"]))
    return any(len(v) > 1 for v in seen.values())


def write_rate_distortion(rd_rows: list[dict[str, Any]], output: Path, split: str = "test") -> dict[str, Path]:
    """Write ``rate_distortion.csv`` and ``plots/rate_distortion.png`` under ``output``; returns their paths."""
    paths = {"rate_distortion_csv": output / "rate_distortion.csv",
             "rate_distortion_plot": output / "plots" / "rate_distortion.png"}
    cols = ["name", "preset", "beta", "seed", "rate", "distortion", "elbo", "split"]
    with open(paths["rate_distortion_csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows([{**r, "split": split} for r in rd_rows])
    paths["rate_distortion_plot"].parent.mkdir(parents=True, exist_ok=True)
    save(rd_figure(rd_rows, split), paths["rate_distortion_plot"])
    return paths


def _merged_labels(points: list[tuple[float, float, float]], span: tuple[float, float],
                   near: float = 0.03) -> list[tuple[float, float, str]]:
    """``(D, R, "β=…")`` labels for ``(D, R, β)`` points in β order, one label for a run of points closer than
    ``near`` of the axes' ``span`` in both directions (collapsed runs at large β sit on one spot: "β=4, 16" instead
    of two labels printed over each other)."""
    groups: list[list[tuple[float, float, float]]] = []
    for p in points:
        last = groups[-1][-1] if groups else None
        if last and abs(p[0] - last[0]) < near * span[0] and abs(p[1] - last[1]) < near * span[1]:
            groups[-1].append(p)
        else:
            groups.append([p])
    return [(g[0][0], g[0][1], "β=" + ", ".join(f"{b:g}" for _, _, b in g)) for g in groups]


def rd_figure(rd_rows: list[dict[str, Any]], split: str = "test"):
    """The (D, R) plane: runs as dots, each curve's mean over seeds joined in β order, lines of equal ELBO. A
    curve is ``r["curve"]`` (the grid point without β), else the preset: runs of two grid points are not pooled."""
    fig = figure((6.6, 5.2))
    ax = fig.add_subplot()
    D = np.array([r["distortion"] for r in rd_rows])
    R = np.array([r["rate"] for r in rd_rows])
    presets = list(dict.fromkeys(r.get("curve", r["preset"]) for r in rd_rows))
    pad_d, pad_r = 0.08 * (np.ptp(D) + 1.0), 0.08 * (np.ptp(R) + 1.0)
    # D = −E log p(x|z) is negative for a density (Gaussian, Laplace) that exceeds 1 at the data, so its axis follows
    # the data; R is a KL divergence, never negative, so its axis may stop at 0
    x0, x1 = D.min() - pad_d, D.max() + pad_d
    y0, y1 = max(0.0, R.min() - pad_r), R.max() + pad_r
    for i, preset in enumerate(presets):
        mine = [r for r in rd_rows if r.get("curve", r["preset"]) == preset]
        ax.scatter([r["distortion"] for r in mine], [r["rate"] for r in mine], s=16, alpha=0.5, color=f"C{i}")
        betas = sorted({r["beta"] for r in mine if r["beta"] is not None})
        means = [(np.mean([r["distortion"] for r in mine if r["beta"] == b]),
                  np.mean([r["rate"] for r in mine if r["beta"] == b]), b) for b in betas]
        if means:
            ax.plot([m[0] for m in means], [m[1] for m in means], "o-", color=f"C{i}", ms=4, label=preset)
            for d, r, label in _merged_labels(means, (x1 - x0, y1 - y0)):
                ax.annotate(label, (d, r), textcoords="offset points", xytext=(4, 4), fontsize=7)
        else:
            ax.scatter([], [], color=f"C{i}", label=preset)
    # lines of equal ELBO (R + D = c) through the span of the runs: 5 evenly spaced levels, each labelled where it
    # leaves the plot (right edge, or top edge when it leaves there first)
    lo, hi = float((D + R).min()), float((D + R).max())
    for c in (np.linspace(lo, hi, 5) if hi > lo else np.array([lo])):
        ax.plot([x0, x1], [c - x0, c - x1], ls="--", lw=0.7, color="0.6")
        x_end = min(x1, c - y0)
        y_end = c - x_end
        if y_end > y1:
            x_end, y_end = c - y1, y1
        tol = 1e-9 * (abs(c) + x1 - x0 + y1 - y0)  # c − (c − y0) is y0 only up to rounding
        if x0 - tol <= x_end <= x1 + tol and y0 - tol <= y_end <= y1 + tol:
            ax.annotate(f"−ELBO {c:.1f}", (x_end, y_end), fontsize=6, color="0.4", ha="right", va="bottom",
                        xytext=(-2, 2), textcoords="offset points")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("distortion D = −E log p(x|z)  (nats)")
    ax.set_ylabel("rate R = E KL(q(z|x) ‖ p(z))  (nats)")
    ax.set_title(f"rate–distortion on the {split} split (dashed: equal ELBO = −(D + R))", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
