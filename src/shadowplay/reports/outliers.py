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
    hits = is_anomaly[order]
    labels = [f"{int(hits[i:i + ncol].sum())}/{len(hits[i:i + ncol])} anomalous" for i in range(0, len(order), ncol)]
    path.parent.mkdir(parents=True, exist_ok=True)
    label_rows(img, labels).save(path)
    return path
