"""Pictures of data: image grids (grayscale or RGB, any size) and a line-plot fallback for tabular rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def image_grid(x: torch.Tensor | np.ndarray, ncol: int | None = None, pad: int = 2, upscale: int | None = None
               ) -> Image.Image:
    """Tile ``(N, C, H, W)`` images in ``[0, 1]`` (C = 1 or 3) into one PIL image.

    Small images (e.g. 8×8 digits) are enlarged with nearest-neighbour so a grid is readable.
    """
    x = torch.as_tensor(x).detach().float().cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"image_grid takes (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    n, c, h, w = x.shape
    ncol = ncol or max(1, int(math.ceil(math.sqrt(n))))
    nrow = int(math.ceil(n / ncol))
    up = upscale or max(1, 64 // max(h, w))
    canvas = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, ncol)
        canvas[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    arr = (canvas.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0), mode="L" if c == 1 else "RGB")
    if up > 1:
        img = img.resize((img.width * up, img.height * up), Image.NEAREST)
    return img


def rows_plot(rows: dict[str, np.ndarray], path: Path, max_rows: int = 8) -> Path:
    """Fallback for tabular data: each example drawn as a line over its feature index, one panel per group
    (e.g. ``{"input": x, "reconstruction": x_hat}``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.5 * len(rows), 3.2), squeeze=False, sharey=True)
    for ax, (title, arr) in zip(axes[0], rows.items()):
        arr = np.asarray(arr).reshape(len(arr), -1)[:max_rows]
        for i, row in enumerate(arr):
            ax.plot(row, lw=1, color=f"C{i % 10}")
        ax.set_title(title)
        ax.set_xlabel("feature")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def save_examples(path: Path, groups: dict[str, torch.Tensor], ncol: int | None = None) -> Path:
    """Write images as one grid (groups stacked row-wise, e.g. inputs above reconstructions) or, for tabular
    data, the line-plot fallback. Returns the path written (``.png``)."""
    path = Path(path)
    first = next(iter(groups.values()))
    if first.ndim == 4 and first.shape[1] in (1, 3):
        if len(groups) == 1:
            image_grid(first, ncol).save(path)
        else:
            ncol = ncol or len(first)
            stacked = torch.cat([g[:ncol] for g in groups.values()])
            image_grid(stacked, ncol=ncol).save(path)
        return path
    return rows_plot({k: v.cpu().numpy() for k, v in groups.items()}, path)
