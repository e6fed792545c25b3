"""Pictures of the debiasing use (here, not in ``reports``, because they draw ``AuditResult``s, and reports sit below
debias): per-group accuracy bars of one or more audits, the inputs DB-VAE upweights most
and least, and worst-group accuracy against the rare fraction. Built from arrays and audit results only, with
matplotlib's object API (no pyplot state, the user's backend is left alone)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch

from ..errors import DebiasError
from ..reports.images import image_grid, label_rows, save_examples
from ..reports.plotting import figure, save
from .audit import AuditResult

if TYPE_CHECKING:  # matplotlib is imported by the first figure (reports/plotting.py)
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: Path, dpi: int = 110) -> Path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save(fig, path, dpi)


def audit_chart(audits: Mapping[str, AuditResult], title: str = "accuracy per group") -> Figure:
    """Grouped bars: one cluster per group, one bar per audit (run), with the 95 % Wilson interval of each accuracy
    as an error bar and each group's test count under its name; the worst group of each run is outlined in red."""
    names = list(audits)
    groups = sorted({g.name for a in audits.values() for g in a.groups},
                    key=lambda n: min(g.group for a in audits.values() for g in a.groups if g.name == n))
    counts = {n: sorted({g.n for a in audits.values() for g in a.groups if g.name == n}) for n in groups}
    width = 0.8 / max(len(names), 1)
    fig = figure((max(5.0, 1.3 * len(groups) * max(1, len(names)) ** 0.5 + 2), 3.6))
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    for i, name in enumerate(names):
        by_name = {g.name: g for g in audits[name].groups}
        vals = np.array([by_name[g].accuracy if g in by_name else np.nan for g in groups])
        low = np.array([by_name[g].accuracy_low if g in by_name else np.nan for g in groups])
        high = np.array([by_name[g].accuracy_high if g in by_name else np.nan for g in groups])
        err = np.clip(np.nan_to_num(np.stack([vals - low, high - vals])), 0, None)
        bars = ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, yerr=err, capsize=3,
                      error_kw={"elinewidth": 1, "ecolor": "#333333"},
                      label=f"{name} (worst {audits[name].worst_group_accuracy:.3f})")
        for bar, g in zip(bars, groups):
            if g == audits[name].worst_group:
                bar.set_edgecolor("#c0392b")
                bar.set_linewidth(1.6)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{g}\nn = {'/'.join(f'{c:,}' for c in counts[g])}" for g in groups], fontsize=8)
    ax.set_ylim(0, 1.18)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("accuracy (bars: 95 % CI)")
    ax.set_title(f"{title}; red outline: worst group", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=max(1, min(len(names), 4)), frameon=False)
    fig.tight_layout()
    return fig


def save_weight_extremes(path: Path, x: torch.Tensor, weights: torch.Tensor, n: int = 16,
                         columns: Sequence[str] | None = None, standardized: bool = False) -> Path:
    """The ``n`` inputs of ``x`` ``(N, *shape)`` with the highest sampling weight ``(N,)`` (top row) and the ``n``
    with the lowest (bottom row); give the inputs of the debiased class, the ones DB-VAE reweights. Pictures are a
    labelled grid; a table ``(N, D)`` is :func:`weight_extremes_figure`, its columns named by ``columns``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    w = weights.double().cpu()
    order = torch.argsort(w, descending=True)
    n = min(n, len(order) // 2 or 1)
    rows = {"highest weight": x[order[:n]].cpu(), "lowest weight": x[order[-n:]].cpu()}
    if x.ndim == 4 and x.shape[1] in (1, 3):  # pictures: one labelled row each
        label_rows(image_grid(torch.cat(list(rows.values())), ncol=n), list(rows)).save(path)
        return Path(path)
    if x.ndim == 2:
        return save_figure(weight_extremes_figure(x, w, n, columns, standardized), path)
    return save_examples(Path(path), rows, ncol=n)


def weight_extremes_figure(x: torch.Tensor, weights: torch.Tensor, n: int = 16,
                           columns: Sequence[str] | None = None, standardized: bool = False) -> Figure:
    """Two heat maps of table rows ``x`` ``(N, D)``: the ``n`` rows with the highest sampling weight ``(N,)`` above
    the ``n`` with the lowest, one column per feature, headed by its name in ``columns`` (a CSV's header, or
    ``feature k`` when the data name none) and each row labelled with its weight as a multiple of the uniform 1/N,
    so the feature values DB-VAE draws more often can be read off. ``standardized``: the values are z-scores (a
    CSV's), coloured on a scale symmetric about 0."""
    d = x.shape[1]
    if columns is not None and len(columns) != d:
        raise DebiasError(f"{len(columns)} column names for a table of {d} columns")
    names = [str(c) for c in columns] if columns is not None else [f"feature {k}" for k in range(d)]
    w = weights.double().cpu()
    order = torch.argsort(w, descending=True)
    n = min(n, len(order) // 2 or 1)
    scale = len(w) / float(w.sum())  # weight × N / Σw: 1 = drawn as often as under uniform sampling
    values = x.double().cpu()
    shown = values[torch.cat([order[:n], order[-n:]])]
    centred = standardized or bool((shown < 0).any())  # diverging colours about 0, else 0 to the largest value
    lim = float(shown.abs().max()) or 1.0
    fig = figure((min(max(4.5, 0.35 * d + 2.5), 16.0), 2 * (0.22 * n + 0.9) + 1.4))
    fig.set_layout_engine("constrained")  # room for the rotated names and the colour bar
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (title, idx) in zip(axes, (("highest weight", order[:n]), ("lowest weight", order[-n:]))):
        image = ax.imshow(values[idx].numpy(), aspect="auto", interpolation="nearest",
                          cmap="RdBu_r" if centred else "viridis", vmin=-lim if centred else 0.0, vmax=lim)
        ax.set_yticks(range(len(idx)))
        ax.set_yticklabels([f"{scale * float(w[i]):.2g}×" for i in idx], fontsize=6)
        ax.set_title(f"{title} (rows: weight × uniform)", fontsize=9)
    step = max(1, -(-d // 40))  # at most 40 names under the axis
    axes[1].set_xticks(range(0, d, step))
    axes[1].set_xticklabels(names[::step], rotation=60 if d > 6 else 0, ha="right" if d > 6 else "center",
                            fontsize=7)
    fig.colorbar(image, ax=list(axes), label="standardized value" if standardized else "value", shrink=0.8)
    return fig


def save_cluster_examples(path: Path, x: torch.Tensor, clusters: np.ndarray, result: AuditResult, n: int = 12,
                          seed: int = 0) -> Path | None:
    """What each latent cluster of a ``--groups latent`` audit holds: one row of up to ``n`` inputs of ``x``
    ``(N, C, H, W)`` per cluster id in ``clusters`` ``(N,)`` (a seeded pick), labelled with the cluster's accuracy
    and size from ``result``. Writes nothing and returns ``None`` for data that are not pictures."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        return None
    rng = np.random.default_rng(seed)
    blank = torch.ones(1, *x.shape[1:])
    rows, labels = [], []
    for g in result.groups:
        idx = np.flatnonzero(clusters == g.group)
        pick = np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False))
        rows.append(torch.cat([x[torch.as_tensor(pick)].cpu(), blank.expand(n - len(pick), *x.shape[1:])]))
        labels.append(f"{g.name}: accuracy {g.accuracy:.3f}, n {g.n:,}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    label_rows(image_grid(torch.cat(rows), ncol=n), labels).save(path)
    return Path(path)


def rare_fraction_curve(fractions: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                        target: float | None = None) -> Figure:
    """Worst-group accuracy (mean ± std over seeds) against the rare fraction (log axis), one line per arm."""
    fig = figure((5.5, 3.4))
    ax = fig.add_subplot()
    f = 100 * np.asarray(fractions, float)
    for name, (mean, std) in series.items():
        mean, std = np.asarray(mean, float), np.asarray(std, float)
        ax.errorbar(f, mean, yerr=std, marker="o", capsize=3, label=name)
    if target is not None:
        ax.axhline(target, color="#888888", ls="--", lw=1, label=f"target {target:.2f}")
    ax.set_xscale("log")
    ax.minorticks_off()  # the log axis' minor labels (3×10⁻¹ …) would overprint the fractions
    ax.set_xticks(f)
    ax.set_xticklabels([f"{v:g}" for v in f])
    ax.set_xlabel("inverted share of the positive training images (%)")
    ax.set_ylabel("worst-group accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
