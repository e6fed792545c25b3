"""Matplotlib figures made from arrays and metric records (never from a model): training curves, KL per
latent dimension, the aggregate posterior's covariance and per-input likelihood histograms.

Each function returns a ``matplotlib.figure.Figure``; :func:`figure_png` turns one into PNG bytes (for the HTML
report).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .plotting import colormap, subplots

if TYPE_CHECKING:  # matplotlib is imported by the first figure (reports/plotting.py)
    from matplotlib.figure import Figure

_SKIP = {"step", "epoch", "split", "time", "samples_per_s"}


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return float(v)  # non-finite values are logged as strings ("nan", "inf")
    except ValueError:
        return None


def training_curves(records: Sequence[dict[str, Any]]) -> Figure | None:
    """One panel per logged quantity (every loss part, the total, each diagnostic such as the ELBO), train lines and
    validation markers against the step. Keys ``group/name`` share one panel per group: the part weights
    (``weight/<part>``, panel "weights") and vector diagnostics (``kl_per_latent/<j>``). ``None`` when nothing was
    logged. A series of fewer than :data:`_FEW` points gets markers too (one point draws no line); a panel of more
    than :data:`_LEGEND_MAX` numbered series is coloured along a colorbar instead of a legend."""
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in _SKIP and k not in keys and _numeric(r[k]) is not None]
    groups: dict[str, list[str]] = {}
    for k in keys:
        group = k.split("/", 1)[0] if "/" in k else k
        groups.setdefault("weights" if group == "weight" else group, []).append(k)
    if "weights" in groups:  # the weights panel comes last
        groups["weights"] = groups.pop("weights")
    n = len(groups)
    if n == 0:
        return None
    ncol = min(3, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = subplots(nrow, ncol, figsize=(4.2 * ncol, 2.8 * nrow), squeeze=False)
    for ax, (title, members) in zip(axes.flat, groups.items()):
        _curve_panel(fig, ax, title, members, records)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


_FEW = 5  # a series with fewer points than this also gets markers
_LEGEND_MAX = 4  # more lines than this and a legend inside a 4.2 × 2.8 in panel covers the curves


def _curve_panel(fig: Figure, ax: Any, title: str, members: list[str], records: Sequence[dict[str, Any]]) -> None:
    """The train (line) and val (dots) series of ``members`` in one panel, with their legend or colorbar."""
    shared = len(members) > 1 or "/" in members[0]
    names = [k.split("/", 1)[-1] for k in members]
    numbered = len(members) > _LEGEND_MAX and all(name.isdigit() for name in names)
    cmap = colormap("viridis")
    drawn = []
    for split, style in (("train", dict(lw=1.2)), ("val", dict(marker="o", ms=3, lw=1))):
        for i, k in enumerate(members):
            pts = [(r["step"], _numeric(r[k])) for r in records if r.get("split") == split and k in r]
            if not pts:
                continue
            s, v = zip(*pts)
            kw = dict(style, marker="o", ms=3) if len(pts) < _FEW else dict(style)
            if numbered:
                kw["color"] = cmap(i / (len(members) - 1))
            ax.plot(s, v, label=f"{names[i]} ({split})" if shared else split, **kw)
            drawn.append(split)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=8)
    if numbered:  # e.g. kl_per_latent of 16 latents: a colorbar of the index, not 16 legend entries over the curves
        idx = [int(name) for name in names]
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.ticker import MaxNLocator
        sm = ScalarMappable(Normalize(min(idx), max(idx)), cmap)
        bar = fig.colorbar(sm, ax=ax, pad=0.02, fraction=0.06)
        bar.set_label(f"{title}/j" + (" (dots: val)" if "val" in drawn else ""), fontsize=7)
        bar.ax.tick_params(labelsize=7)
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    elif len(drawn) > _LEGEND_MAX:  # many named series: the legend goes beside the panel
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  ncol=int(np.ceil(len(drawn) / 12)))
    else:
        ax.legend(fontsize=7)


def kl_per_dim_figure(kl: Sequence[float] | None, activity: Sequence[float], active: Sequence[bool],
                      threshold: float = 0.01) -> Figure:
    """Bars of the mean KL of each latent dimension (active units dark, inactive light) beside each dimension's
    activity Var_x E_q[z_d] with the active-unit threshold (Burda et al. 2016, §5.2)."""
    activity, active = np.asarray(activity, float), np.asarray(active, bool)
    dims = np.arange(len(activity))
    colors = np.where(active, "#31688e", "#b8c7d6")
    panels = 2 if kl is not None else 1
    width = min(8.0, max(4.5, 0.3 * len(dims) + 1.5))
    fig, axes = subplots(1, panels, figsize=(width * panels, 2.8), squeeze=False)
    if kl is not None:
        axes[0, 0].bar(dims, np.asarray(kl, float), color=colors)
        axes[0, 0].set_title("KL per latent dimension (nats)", fontsize=10)
    ax = axes[0, -1]
    ax.bar(dims, np.maximum(activity, 1e-12), color=colors)
    ax.axhline(threshold, color="#c0392b", lw=1, ls="--", label=f"active threshold {threshold}")
    ax.set_yscale("log")
    ax.set_title("activity Var$_x$ E$_q$[z$_d$]", fontsize=10)
    ax.legend(fontsize=7)
    for a in axes.flat:
        a.set_xlabel("latent dimension", fontsize=8)
        a.set_xticks(dims if len(dims) <= 32 else dims[:: max(1, len(dims) // 16)])
        a.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def covariance_figure(cov: Sequence[Sequence[float]]) -> Figure:
    """Heat map of the aggregate posterior's covariance (the prior's is the identity)."""
    cov = np.asarray(cov, float)
    lim = max(1.0, float(np.abs(cov).max()))
    fig, ax = subplots(figsize=(3.6, 3.0))
    im = ax.imshow(cov, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("aggregate posterior covariance", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def histogram_figure(columns: dict[str, np.ndarray], bins: int = 40) -> Figure:
    """One histogram per per-input quantity (e.g. ``log_px``, ``elbo``, ``recon_sq_error``)."""
    n = len(columns)
    fig, axes = subplots(1, n, figsize=(3.6 * n, 2.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], columns.items()):
        v = np.asarray(values, float)
        ax.hist(v[np.isfinite(v)], bins=bins, color="#31688e")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
