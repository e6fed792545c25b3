"""The latent × factor mutual-information heat map written by ``shadowplay evaluate --metrics``.

Each cell is I(z_j; v_k) / H(v_k): the share of factor k's entropy that latent j alone carries (plug-in MI of the
code cut into 20 equal-width bins, as in MIG; Chen et al. 2018, §5). A disentangled code shows one bright cell per
column; MIG is the gap between a column's two largest cells, averaged over columns. Each cell prints the number its
colour shows, I(z_j; v_k) / H(v_k); the MI in nats is in ``evaluation.json`` (``mi_matrix.nats``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .plotting import subplots

if TYPE_CHECKING:  # matplotlib is imported by the first figure (reports/plotting.py)
    from matplotlib.figure import Figure


def mi_matrix_figure(mi: np.ndarray, factor_entropy: Sequence[float], factor_names: Sequence[str],
                     title: str = "") -> Figure:
    """Heat map of ``(L, F)`` MI normalized by each factor's entropy ``(F,)``; rows are latents."""
    mi = np.asarray(mi, float)
    h = np.asarray(factor_entropy, float)
    norm = np.divide(mi, h[None, :], out=np.zeros_like(mi), where=h[None, :] > 0)
    n_lat, n_fac = mi.shape
    fig, ax = subplots(figsize=(1.2 + 0.9 * n_fac, 1.0 + 0.38 * n_lat))
    im = ax.imshow(norm, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for j in range(n_lat):
        for k in range(n_fac):
            ax.text(k, j, f"{norm[j, k]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if norm[j, k] > 0.6 else "white")
    ax.set_xticks(range(n_fac), list(factor_names), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(n_lat), [f"z{j}" for j in range(n_lat)], fontsize=8)
    ax.set_xlabel("factor")
    ax.set_ylabel("latent")
    fig.colorbar(im, ax=ax, shrink=0.8, label="I(z_j; v_k) / H(v_k)")
    ax.set_title(title or "I(z_j; v_k) / H(v_k): share of each factor's entropy per latent", fontsize=9)
    fig.tight_layout()
    return fig


def save_mi_matrix(path: str | Path, mi: np.ndarray, factor_entropy: Sequence[float], factor_names: Sequence[str],
                   title: str = "") -> Path:
    """Write :func:`mi_matrix_figure` as a PNG; returns the path."""
    path = Path(path)
    fig = mi_matrix_figure(mi, factor_entropy, factor_names, title)
    fig.savefig(path, dpi=110)
    return path
