"""Matplotlib through its object API only: a ``Figure`` with its own Agg canvas, never ``pyplot``.

``pyplot`` keeps a global list of open figures and ``matplotlib.use("Agg")`` switches the backend for the whole
process, so a library that called either would change what a user's notebook or GUI shows. A ``Figure`` made here
belongs to no figure manager: it is drawn by its own Agg canvas and freed when the last reference goes, so nothing
needs closing and importing shadowplay leaves the user's backend as it was (``tests/reports/test_plotting.py``).

Matplotlib itself is imported by the first figure, not with this module: it was ~0.45 s of every command's start-up
(``shadowplay --help`` and ``info`` draw nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure(figsize: tuple[float, float]) -> Figure:
    """An empty figure of ``figsize`` inches drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kw: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: ``(figure, axes)``; ``axes`` is an array when ``squeeze=False``."""
    fig = figure(figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG to ``path``; returns the path."""
    fig.savefig(path, dpi=dpi)
    return Path(path)


def rgb_array(fig: Figure) -> np.ndarray:
    """The rendered figure as an ``(H, W, 3)`` uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def colormap(name: str):
    """A registered colormap by name (``pyplot.get_cmap`` without pyplot)."""
    from matplotlib import colormaps
    return colormaps[name]
