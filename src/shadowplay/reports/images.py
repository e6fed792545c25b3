"""Pictures of data: image grids (grayscale or RGB, any size) and a line-plot fallback for tabular rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from ..run.folder import TraversalFiles
from .plotting import colormap, rgb_array, subplots


def grid_size(n: int, h: int, w: int, ncol: int | None = None, pad: int = 2, upscale: int | None = None
              ) -> tuple[int, int]:
    """``(width, height)`` in pixels of the :func:`image_grid` of ``n`` images of ``h × w``."""
    ncol = ncol or max(1, int(math.ceil(math.sqrt(n))))
    nrow = int(math.ceil(n / ncol))
    up = upscale or max(1, 64 // max(h, w))
    return (ncol * (w + pad) + pad) * up, (nrow * (h + pad) + pad) * up


# picture files both writers make (Pillow for image grids, matplotlib for the line plots of tabular rows)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".pdf")


def check_picture_path(path: str | Path, also: tuple[str, ...] = (), given: bool = True) -> None:
    """Raise a :class:`ConfigError` unless ``path`` ends in a picture suffix (or one of ``also``, e.g. ``.npy``)
    and, when the user ``given`` it (``-o``), its folder exists: for commands to call before any work, since the
    writer only finds out when it saves (a missing folder was a bare ``[Errno 2]`` after the drawing)."""
    ok = (*PICTURE_SUFFIXES, *also)
    suffix = Path(path).suffix.lower()
    if suffix not in ok:
        raise ConfigError(f"-o must end in {', '.join(ok[:-1])} or {ok[-1]}, not {suffix or '(no suffix)'!r}: {path}")
    if given and not Path(path).parent.is_dir():
        raise ConfigError(f"the folder of -o {path} does not exist: create {Path(path).parent} first, or write "
                          "elsewhere")


def _too_large(n: int, size: Callable[[int], tuple[int, int]], what: str, hint: Callable[[int], str]) -> None:
    """Raise a :class:`ConfigError` when the picture of ``n`` items, ``size(n)`` = (width, height) pixels, is
    larger than Pillow agrees to open again (``Image.MAX_IMAGE_PIXELS``, its guard against decompression bombs);
    ``hint(fit)`` says what to do with ``fit``, the largest ``n`` that fits."""
    limit = Image.MAX_IMAGE_PIXELS or float("inf")
    width, height = size(n)
    if width * height <= limit:
        return
    fit = n
    while fit > 1 and math.prod(size(fit)) > limit:
        fit = int(fit * 0.9)
    raise ConfigError(f"a picture of {n:,} {what} would be {width:,}x{height:,} pixels, more than Pillow opens "
                      f"again ({int(limit):,}); {hint(fit)}")


def check_grid(n: int, h: int, w: int, ncol: int | None = None) -> None:
    """:func:`_too_large` for the grid of ``n`` images of ``h × w``, naming the largest ``n`` that fits."""
    _too_large(n, lambda k: grid_size(k, h, w, ncol), f"images of {h}x{w}",
               lambda fit: f"draw at most {fit:,} (-n {fit}), or write the array with -o samples.npy")


def example_columns(n: int) -> int:
    """Columns of :func:`save_examples`' grid of ``n`` examples per group: one row up to 16, then about √(2n), so
    the rows of (input, reconstruction) pairs make a roughly square picture."""
    return n if n <= 16 else max(16, math.ceil(math.sqrt(2 * n)))


def examples_size(n: int, groups: Sequence[str], h: int, w: int, ncol: int | None = None) -> tuple[int, int]:
    """``(width, height)`` in pixels of :func:`save_examples`' picture of the ``groups`` (their names) of ``n``
    images of ``h × w`` each: the grid of rows of pairs and, for several groups, the margin of their row labels."""
    if len(groups) == 1:
        return grid_size(n, h, w, ncol)
    ncol = ncol or example_columns(n)
    width, height = grid_size(len(groups) * ncol * math.ceil(n / ncol), h, w, ncol)
    return width + label_width(groups), height


def check_examples(n: int, groups: Sequence[str], h: int, w: int) -> None:
    """:func:`_too_large` for :func:`save_examples` of the ``groups`` (their names, which label the rows) of ``n``
    images of ``h × w`` each."""
    _too_large(n, lambda k: examples_size(k, groups, h, w), f"inputs of {h}x{w} with their reconstructions",
               lambda fit: f"show at most {fit:,} (-n {fit})")


def image_grid(x: torch.Tensor | np.ndarray, ncol: int | None = None, pad: int = 2, upscale: int | None = None
               ) -> Image.Image:
    """Tile ``(N, C, H, W)`` images in ``[0, 1]`` (C = 1 or 3) into one PIL image.

    Small images (e.g. 8×8 digits) are enlarged with nearest-neighbour so a grid is readable.
    """
    x = torch.as_tensor(x).detach().float().cpu()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"image_grid takes (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    n, c, h, w = x.shape
    if upscale is None:
        check_grid(n, h, w, ncol)
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
    fig, axes = subplots(1, len(rows), figsize=(4.5 * len(rows), 3.2), squeeze=False, sharey=True)
    for ax, (title, arr) in zip(axes[0], rows.items()):
        arr = np.asarray(arr).reshape(len(arr), -1)[:max_rows]
        for i, row in enumerate(arr):
            ax.plot(row, lw=1, color=f"C{i % 10}")
        ax.set_title(title)
        ax.set_xlabel("feature")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)


def save_examples(path: Path, groups: dict[str, torch.Tensor], ncol: int | None = None) -> Path:
    """Write images as one grid or, for tabular data, the line-plot fallback. Several groups (e.g. inputs and
    their reconstructions) are stacked: each row of ``ncol`` examples (default :func:`example_columns`) of the
    first group above the same examples of the others, each row labelled on the left with its group's name (with
    many rows of pairs, which row is which cannot be told from the pictures). One group is an unlabelled grid.
    Returns the path written (its size: :func:`examples_size`)."""
    path = Path(path)
    first = next(iter(groups.values()))
    if first.ndim == 4 and first.shape[1] in (1, 3):
        if len(groups) == 1:
            image_grid(first, ncol).save(path)
        else:
            ncol = ncol or example_columns(len(first))
            blank = torch.ones(ncol, *first.shape[1:])  # fills the last row of each group (the canvas is white)
            rows = [torch.cat([g[i:i + ncol].cpu(), blank[:max(0, i + ncol - len(g))]])
                    for i in range(0, len(first), ncol) for g in groups.values()]
            labels = [name for _ in range(0, len(first), ncol) for name in groups]
            label_rows(image_grid(torch.cat(rows), ncol=ncol), labels).save(path)
        return path
    return rows_plot({k: v.cpu().numpy() for k, v in groups.items()}, path)


# ------------------------------------------------------------------ latent traversals and interpolations
def _is_image(shape: tuple[int, ...]) -> bool:
    """Whether one example of this shape is a (C, H, W) picture with 1 or 3 channels."""
    return len(shape) == 3 and shape[0] in (1, 3)


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def label_width(labels: Sequence[str], size: int = 13) -> int:
    """Pixel width of the margin :func:`label_rows` adds for ``labels`` (the widest label and 10 px)."""
    from PIL import ImageDraw
    font = _font(size)
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    return max(int(draw.textlength(s, font=font)) for s in labels) + 10


def label_rows(img: Image.Image, labels: list[str], size: int = 13) -> Image.Image:
    """``img`` with a white margin on the left holding one label per equal-height row (e.g. ``z3 KL 2.1``)."""
    from PIL import ImageDraw
    font = _font(size)
    width = label_width(labels, size)
    out = Image.new(img.mode, (img.width + width, img.height), 255 if img.mode == "L" else (255, 255, 255))
    out.paste(img, (width, 0))
    draw, row = ImageDraw.Draw(out), img.height / len(labels)
    for i, s in enumerate(labels):
        draw.text((4, int((i + 0.5) * row - size / 2)), s, fill=0 if img.mode == "L" else (0, 0, 0), font=font)
    return out


def label_columns(img: Image.Image, labels: list[str], left: int = 0, size: int = 12) -> Image.Image:
    """``img`` with a white strip on top holding one label centred over each equal-width column (e.g. the value a
    traversal sets); the first ``left`` pixels (a margin of row labels) get no column."""
    from PIL import ImageDraw
    font = _font(size)
    strip = size + 8
    out = Image.new(img.mode, (img.width, img.height + strip), 255 if img.mode == "L" else (255, 255, 255))
    out.paste(img, (0, strip))
    draw, col = ImageDraw.Draw(out), (img.width - left) / max(1, len(labels))
    for i, s in enumerate(labels):
        x = left + (i + 0.5) * col - draw.textlength(s, font=font) / 2
        draw.text((max(0, int(x)), 3), s, fill=0 if img.mode == "L" else (0, 0, 0), font=font)
    return out


def _value_labels(values: np.ndarray) -> list[str]:
    """Signed column labels with enough decimals (2 to 4) that neighbouring values read differently."""
    steps = np.abs(np.diff(values))
    smallest = steps[steps > 0].min() if (steps > 0).any() else 1.0
    decimals = int(min(4, max(2, np.ceil(-np.log10(smallest)))))
    return [f"{v:+.{decimals}f}" for v in values]


def save_gif(frames: list[Image.Image], path: Path, duration_ms: int = 150, pingpong: bool = True) -> Path:
    """An endlessly looping animated GIF of ``frames`` (played forward then back when ``pingpong``)."""
    seq = frames + frames[-2:0:-1] if pingpong and len(frames) > 2 else list(frames)
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=duration_ms, loop=0, optimize=False)
    return Path(path)


def _figure_image(fig) -> Image.Image:
    return Image.fromarray(rgb_array(fig))


def _step_lines(ax, rows: np.ndarray, title: str, ylim: tuple[float, float]) -> None:
    """One line per step, coloured from dark (first value) to yellow (last)."""
    cmap = colormap("viridis")
    for s, row in enumerate(rows):
        ax.plot(row, lw=1, color=cmap(s / max(1, len(rows) - 1)))
    ax.set_title(title, fontsize=9)
    ax.set_ylim(*ylim)
    ax.set_xlabel("feature", fontsize=8)


def save_traversal(out: Path | TraversalFiles, images: torch.Tensor, dims: list[int], labels: list[str],
                   values: np.ndarray | None = None, starts: list[str] | None = None) -> dict[str, Path]:
    """Pictures of a traversal ``images`` ``(B, n_dims, steps, *shape)`` (B base codes).

    ``out`` is the traversal folder (``RunFolder.traversal(...)`` or a plain folder). Writes ``dim-<d>.png`` per
    dimension (one row per base code), ``overview.png`` (one labelled row per dimension,
    first base code) and ``traversal.gif`` (frame s shows every dimension at step s). ``values`` ``(n_dims, steps)``
    are the latent values of each column: when every dimension takes the same ones (modes ``prior``, ``fixed``)
    they head the columns of the overview and each frame of the GIF; otherwise each row's label gets its range.
    Each ``dim-<d>.png`` is headed by its own values, its rows labelled with the dimension and, when given,
    ``starts`` (one name per base code, e.g. ``input 3``). Tabular data get line plots:
    one line per step, coloured by step. The ``dim-<d>.png`` of dimensions not in ``dims`` that an earlier traversal
    left in the folder are removed, so the folder shows one traversal.
    """
    where = out if isinstance(out, TraversalFiles) else TraversalFiles(Path(out))  # the run folder names the files
    where.folder.mkdir(parents=True, exist_ok=True)
    for stale in set(where.dim_pictures()) - {where.dim(d) for d in dims}:
        stale.unlink()
    b, n, steps = images.shape[:3]
    files: dict[str, Path] = {}
    vals = None if values is None else np.asarray(values, dtype=float).reshape(n, steps)
    shared = vals is not None and bool(np.allclose(vals, vals[:1]))
    if vals is not None and not shared:
        labels = [f"{lab}  {' to '.join(_value_labels(v[[0, -1]]))}" for lab, v in zip(labels, vals)]
    if _is_image(tuple(images.shape[3:])):
        shape = images.shape[3:]

        def labelled(grid: Image.Image, rows: list[str], columns: list[str] | None) -> Image.Image:
            img = label_rows(grid, rows)
            return img if columns is None else label_columns(img, columns, left=img.width - grid.width)
        for j, d in enumerate(dims):
            files[f"dim-{d}"] = where.dim(d)
            grid = image_grid(images[:, j].reshape(b * steps, *shape), ncol=steps)
            rows = [f"{labels[j].split()[0]} from {st}" for st in starts] if starts and len(starts) == b \
                else [labels[j]] * b
            labelled(grid, rows, None if vals is None else _value_labels(vals[j])).save(files[f"dim-{d}"])
        overview = image_grid(images[0].reshape(n * steps, *shape), ncol=steps)
        labelled(overview, labels, _value_labels(vals[0]) if shared else None).save(where.overview)
        frames = [labelled(image_grid(images[0, :, s], ncol=1), labels,
                           [f"z = {vals[0, s]:+.2f}" if shared else f"step {s + 1}/{steps}"]) for s in range(steps)]
    else:
        flat = images.reshape(b, n, steps, -1).numpy()
        lim = (float(flat.min()), float(flat.max()))
        lim = (lim[0] - 0.05 * (lim[1] - lim[0] + 1e-9), lim[1] + 0.05 * (lim[1] - lim[0] + 1e-9))
        for j, d in enumerate(dims):
            fig, axes = subplots(1, b, figsize=(4 * b, 2.8), squeeze=False)
            for i, ax in enumerate(axes[0]):
                _step_lines(ax, flat[i, j], f"{labels[j]} (base {i})", lim)
            fig.tight_layout()
            files[f"dim-{d}"] = where.dim(d)
            fig.savefig(files[f"dim-{d}"], dpi=100)
        ncol = min(4, n)
        fig, axes = subplots(int(np.ceil(n / ncol)), ncol, figsize=(3.6 * ncol, 2.6 * np.ceil(n / ncol)),
                                 squeeze=False)
        for j, ax in enumerate(axes.flat):
            _step_lines(ax, flat[0, j], labels[j], lim) if j < n else ax.axis("off")
        fig.tight_layout()
        _figure_image(fig).save(where.overview)
        frames = []
        for s in range(steps):
            fig, ax = subplots(figsize=(6, 3))
            for j in range(min(n, 8)):
                ax.plot(flat[0, j, s], lw=1, label=labels[j])
            ax.set_ylim(*lim)
            ax.set_title(f"step {s + 1}/{steps}", fontsize=9)
            ax.legend(fontsize=7, loc="upper right")
            frames.append(_figure_image(fig))
    files["overview"] = where.overview
    files["gif"] = save_gif(frames, where.gif)
    return files


def save_interpolation(path: Path, x_from: torch.Tensor, path_images: torch.Tensor, x_to: torch.Tensor,
                       labels: list[str] | None = None) -> Path:
    """One row: the first input, the decoded path, the second input (tabular: lines coloured along the path,
    the two inputs dashed). ``labels`` (one per column: the inputs' names and the path's fractions t) head the
    image columns."""
    path = Path(path)
    if _is_image(tuple(path_images.shape[1:])):
        img = image_grid(torch.cat([x_from[None], path_images, x_to[None]]), ncol=len(path_images) + 2)
        (label_columns(img, labels) if labels and len(labels) == len(path_images) + 2 else img).save(path)
        return path
    fig, ax = subplots(figsize=(7, 3.2))
    flat = path_images.reshape(len(path_images), -1).numpy()
    every = np.concatenate([flat.ravel(), x_from.flatten().numpy(), x_to.flatten().numpy()])
    pad = 0.05 * (float(every.max() - every.min()) + 1e-9)
    _step_lines(ax, flat, "interpolation", (float(every.min()) - pad, float(every.max()) + pad))
    ax.plot(x_from.flatten().numpy(), "k--", lw=1, label="from")
    ax.plot(x_to.flatten().numpy(), "k:", lw=1, label="to")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
