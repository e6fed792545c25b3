"""Pictures of latent codes: a 2-D map coloured by label, and codes as ``.npy``/``.csv`` files.

Matplotlib through its object API (a ``Figure`` with its own Agg canvas, never ``pyplot``), so drawing leaves the
user's backend alone.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import ShadowplayError
from .plotting import colormap, figure

if TYPE_CHECKING:  # matplotlib is imported by the first figure (reports/plotting.py)
    from matplotlib.figure import Figure

CODE_SUFFIXES = (".npy", ".csv")


def write_codes(path: str | Path, mean: np.ndarray, logvar: np.ndarray | None = None,
                labels: np.ndarray | None = None) -> Path:
    """Write codes ``(N, L)`` (and log-variances ``(N, L)``) to ``path``.

    ``.npy``: one float32 array, ``(N, L)``, or ``(N, 2L)`` = ``[means | log-variances]`` when ``logvar`` is given.
    ``.csv``: a header ``index, z0..z{L-1}[, logvar0..][, label]``, one row per input.
    """
    path = Path(path)
    if path.suffix.lower() not in CODE_SUFFIXES:
        raise ShadowplayError(f"codes can be written as .npy or .csv, not {path.suffix or '(no suffix)'!r}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [mean] if logvar is None else [mean, logvar]
    if path.suffix.lower() == ".npy":
        np.save(path, np.concatenate(cols, axis=1).astype(np.float32))
        return path
    L = mean.shape[1]
    header = ["index", *(f"z{j}" for j in range(L))]
    if logvar is not None:
        header += [f"logvar{j}" for j in range(L)]
    if labels is not None:
        header.append("label")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(len(mean)):
            row = [i, *(f"{v:.7g}" for c in cols for v in c[i])]
            w.writerow(row + ([int(labels[i])] if labels is not None else []))
    return path


def latent_map_figure(xy: np.ndarray, axes: Sequence[str], labels: np.ndarray | None = None,
                      classes: Sequence[str] | None = None, title: str = "") -> Figure:
    """A scatter of ``xy`` ``(M, 2)``, coloured by ``labels`` ``(M,)`` when given (a legend with ``classes`` names
    for up to 20 classes, a colour bar otherwise)."""
    fig = figure((6.4, 5.4))
    ax = fig.add_subplot()
    size = max(2.0, min(14.0, 4000.0 / max(len(xy), 1)))  # smaller dots for more points
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=0.6, color="C0", linewidths=0)
    else:
        values = np.unique(labels)
        if len(values) <= 20:
            colours = colormap("tab10" if len(values) <= 10 else "tab20")
            for k, v in enumerate(values):
                m = labels == v
                name = classes[int(v)] if classes is not None and 0 <= int(v) < len(classes) else str(int(v))
                ax.scatter(xy[m, 0], xy[m, 1], s=size, alpha=0.7, color=colours(k % colours.N), label=name,
                           linewidths=0)
            ax.legend(fontsize=7, markerscale=max(1.0, 6 / size), loc="best", framealpha=0.8, title="label",
                      title_fontsize=7)
        else:
            sc = ax.scatter(xy[:, 0], xy[:, 1], s=size, c=labels, cmap="viridis", alpha=0.7, linewidths=0)
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    if title:  # wrapped: a long run name pushed the end of one line past the figure's edge
        ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=10)
    fig.tight_layout()
    return fig
