"""Small PNG responses: one decoded example as a picture at its own resolution.

The page scales pictures up in the browser (CSS ``image-rendering: pixelated``), so an 8×8 digit travels as a
~100-byte PNG and a 64×64 dSprites image as well under 1 kB; that keeps slider drags cheap. Tabular rows (``(D,)``)
are drawn as a line over the feature index on a fixed value range, so the curve does not rescale while a slider
moves.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

PLOT_SIZE = (256, 128)  # width, height of the line picture of a tabular row


def is_image_shape(shape: tuple[int, ...]) -> bool:
    """Whether one example of this shape is a ``(C, H, W)`` picture with 1 (grey) or 3 (RGB) channels."""
    return len(shape) == 3 and shape[0] in (1, 3)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # compress_level 1: these pictures are tiny, and encoding speed matters more than a few bytes while dragging
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def image_of(x: torch.Tensor) -> Image.Image:
    """A PIL picture of one image ``(C, H, W)`` with values in ``[0, 1]`` (clipped), C = 1 or 3."""
    arr = (x.detach().float().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr[0], mode="L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")


def row_plot(x: torch.Tensor, value_range: tuple[float, float]) -> Image.Image:
    """A line over the feature index of one tabular row ``(D,)``, y from ``value_range`` (low, high)."""
    w, h = PLOT_SIZE
    lo, hi = value_range
    span = (hi - lo) or 1.0
    v = x.detach().double().cpu().flatten().numpy()
    xs = np.linspace(6, w - 6, len(v)) if len(v) > 1 else np.array([w / 2])
    ys = h - 6 - (np.clip(v, lo, hi) - lo) / span * (h - 12)
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if lo < 0 < hi:  # the zero line as a reference
        y0 = h - 6 - (0 - lo) / span * (h - 12)
        draw.line([(0, y0), (w, y0)], fill=(210, 210, 210))
    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(31, 119, 180), width=2)
    return img


def example_png(x: torch.Tensor, value_range: tuple[float, float]) -> bytes:
    """PNG bytes of one example ``(*shape)``: the image itself, or the line plot of a tabular row."""
    if is_image_shape(tuple(x.shape)):
        return png_bytes(image_of(x))
    return png_bytes(row_plot(x, value_range))
