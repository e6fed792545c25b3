"""Pictures of an outlier evaluation: the score histogram of normal and anomalous inputs, and the most abnormal
inputs as a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .figures import figure_png
from .images import image_grid, label_rows


def save_score_histogram(path: Path, scores: np.ndarray, is_anomaly: np.ndarray, threshold: float,
                         title: str = "", bins: int = 60) -> Path:
    """Overlaid histograms (normal, anomalous) of ``scores`` ``(N,)`` with the detector's threshold as a line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    lo, hi = np.percentile(scores, [0.5, 99.5])
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    ax.hist(np.clip(scores[~is_anomaly], lo, hi), edges, alpha=0.6, density=True, label=f"normal ({(~is_anomaly).sum()})")
    ax.hist(np.clip(scores[is_anomaly], lo, hi), edges, alpha=0.6, density=True, label=f"anomalous ({is_anomaly.sum()})")
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel("outlier score (higher = more abnormal; clipped to the 0.5-99.5 % range)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_png(fig))
    return path


def save_top_k(path: Path, images: torch.Tensor, scores: np.ndarray, is_anomaly: np.ndarray, k: int = 25) -> Path:
    """The ``k`` highest-scoring images ``(N, C, H, W)``, most abnormal first; each row captioned with how many of
    its images are true anomalies."""
    order = np.argsort(-scores, kind="stable")[:max(1, int(k))]
    ncol = min(len(order), 10)
    img = image_grid(images[torch.from_numpy(order.copy())], ncol=ncol)
    path.parent.mkdir(parents=True, exist_ok=True)
    label_rows(img, top_k_labels(is_anomaly[order], ncol)).save(path)
    return path


def top_k_labels(hits: np.ndarray, ncol: int) -> list[str]:
    """One caption per row of the top-k grid: the ranks it holds (1 = highest score) and how many of them are true
    anomalies, e.g. ``ranks 1-10 by score: 9/10 anomalous``. (The grid said "10/10 anomalous" alone, which did not
    say the pictures are ordered.)"""
    out = []
    for i in range(0, len(hits), ncol):
        row = hits[i:i + ncol]
        out.append(f"ranks {i + 1}-{i + len(row)}{' by score' if i == 0 else ''}: {int(row.sum())}/{len(row)} anomalous")
    return out
