"""Procedural dSprites: 2-D shapes from five independent factors, rendered on demand.

dSprites (Matthey, Higgins, Hassabis & Lerchner 2017, https://github.com/deepmind/dsprites-dataset) is the
standard disentanglement testbed: 737,280 binary 64x64 images, one per combination of

    shape 3 (square, ellipse, heart), scale 6 (linspace(0.5, 1, 6)), orientation 40 (linspace(0, 2π, 40), both
    endpoints included as in the original, so orientation 0 and 39 draw the same image), posX 32, posY 32
    (linspace(0, 1, 32)).

Here the images are computed from the factors (a pure, deterministic function; nothing is downloaded and the whole
set is never materialized). A pixel is on when its centre lies inside the shape, tested in the shape's own frame:
``(u, v) = R(-θ) (x - c) / (s · 9.5 px)`` with ``x`` the pixel centre, ``c`` the shape centre, ``v`` pointing up.

- square: ``max(|u|, |v|) <= 1``; side 19 px at scale 1 (about 0.3 of the image, like the original).
- ellipse: ``(u/1.2)² + (v/0.6)² <= 1``; semi-axes 11.4 x 5.7 px at scale 1, long axis horizontal at θ = 0.
- heart: the implicit curve ``(a² + b² - 1)³ - a² b³ <= 0`` with ``a = 1.14 u``, ``b = 1.14 v + 0.12`` (lobes
  up at θ = 0; 1.14 makes it as wide as the square, 0.12 centres its bounding box; 259 px at scale 1).
- position: the centre of posX index ``i`` is at ``16.5 + i`` px from the left edge (posY: from the top, growing
  downward), so one step moves the shape exactly one pixel and every shape at every angle stays inside the canvas.
- orientation rotates counter-clockwise as seen on screen.

Variants follow disentanglement_lib (Locatello et al. 2019, ``data/ground_truth/dsprites.py``), both ``(3, 64, 64)``:
``ColorDSprites`` multiplies the mask by a colour drawn uniformly from ``[0.5, 1]³``; ``NoisyDSprites`` puts the
white shape on uniform ``[0, 1)`` noise. Colour and noise are not factors; they come from a NumPy generator seeded by
``(seed, image index)``, so each image is deterministic.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset, check_fixed_size
from .registry import SourceOptions, register_source

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
IMAGE_SIZE = 64
UNIT_PX = 9.5          # half the square's side at scale 1
FIRST_CENTRE_PX = 16.5  # centre of position index 0; index i sits at 16.5 + i
_HALF_WINDOW = 14
_SPRITE_CACHE: np.ndarray | None = None


def _check_factors(factors) -> np.ndarray:
    f = np.asarray(factors)
    if f.ndim == 1 and f.shape[0] == len(FACTOR_SIZES):
        f = f[None]
    if f.ndim != 2 or f.shape[1] != len(FACTOR_SIZES) or not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"dSprites factors must be an (n, 5) integer array ({', '.join(FACTOR_NAMES)}), got shape "
                        f"{f.shape} dtype {f.dtype}")
    bad = (f < 0) | (f >= np.asarray(FACTOR_SIZES))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DataError(f"dSprites factor {FACTOR_NAMES[col]}={int(f[row, col])} (row {row}) is out of range; "
                        f"it must be in 0..{FACTOR_SIZES[col] - 1}")
    return f.astype(np.int64)


def _shape_mask(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:
        return (u / 1.2) ** 2 + (v / 0.6) ** 2 <= 1.0
    a, b = 1.14 * u, 1.14 * v + 0.12
    return (a * a + b * b - 1.0) ** 3 - a * a * b ** 3 <= 0.0


def _sprites() -> np.ndarray:
    """All 3*6*40 shape/scale/orientation masks on a 29x29 window centred on the shape, ``(720, 29, 29)`` bool.

    Position only translates by whole pixels, so an image is one of these pasted at an offset; the window's
    radius of 14 px exceeds the largest shape's (the square's corner, 9.5·√2 ≈ 13.4 px).
    """
    global _SPRITE_CACHE
    if _SPRITE_CACHE is None:
        d = np.arange(-_HALF_WINDOW, _HALF_WINDOW + 1, dtype=np.float64)  # pixel centre minus shape centre
        dx, dy = d[None, None, :], -d[None, :, None]                         # v points up
        theta = np.tile(ORIENTATIONS, len(SCALES))[:, None, None]
        size = np.repeat(SCALES * UNIT_PX, len(ORIENTATIONS))[:, None, None]
        cos, sin = np.cos(theta), np.sin(theta)
        u = (cos * dx + sin * dy) / size
        v = (cos * dy - sin * dx) / size
        _SPRITE_CACHE = np.concatenate([_shape_mask(k, u, v) for k in range(len(SHAPES))])
    return _SPRITE_CACHE


def render(factors) -> np.ndarray:
    """Binary masks ``(n, 64, 64)`` float32 for an ``(n, 5)`` integer factor array."""
    f = _check_factors(factors)
    sprite = _sprites()[(f[:, 0] * FACTOR_SIZES[1] + f[:, 1]) * FACTOR_SIZES[2] + f[:, 2]]
    offsets = np.arange(2 * _HALF_WINDOW + 1)
    top = int(FIRST_CENTRE_PX) - _HALF_WINDOW  # window's first pixel for position index 0
    rows = (top + f[:, 4])[:, None, None] + offsets[None, :, None]
    cols = (top + f[:, 3])[:, None, None] + offsets[None, None, :]
    out = np.zeros((len(f), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    out[np.arange(len(f))[:, None, None], rows, cols] = sprite
    return out


class DSprites:
    """The 737,280 dSprites images as a :class:`~shadowplay.data.groundtruth.GroundTruthData`, shape ``(1, 64, 64)``.

    Index order is mixed-radix over ``FACTOR_NAMES`` with the last factor (posY) fastest, like the original file's
    ``latents_classes`` without its constant colour column.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape: tuple[int, ...] = (1, IMAGE_SIZE, IMAGE_SIZE)

    def __len__(self) -> int:
        return int(np.prod(FACTOR_SIZES))

    def index_to_factors(self, idx) -> np.ndarray:
        """``(n,)`` indices -> ``(n, 5)`` int64 factors."""
        idx = np.atleast_1d(np.asarray(idx))
        if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1 or ((idx < 0) | (idx >= len(self))).any():
            raise DataError(f"dSprites indices must be integers in 0..{len(self) - 1}")
        return np.stack(np.unravel_index(idx, FACTOR_SIZES), axis=1).astype(np.int64)

    def factors_to_index(self, factors) -> np.ndarray:
        """``(n, 5)`` factors -> ``(n,)`` int64 indices."""
        return np.ravel_multi_index(tuple(_check_factors(factors).T), FACTOR_SIZES).astype(np.int64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, 5)`` int64, each factor uniform and independent (one ``rng.integers`` call)."""
        return rng.integers(0, np.asarray(FACTOR_SIZES), size=(int(n), len(FACTOR_SIZES))).astype(np.int64)

    def observations(self, factors) -> torch.Tensor:
        """``(n, *observation_shape)`` float32 images for ``(n, 5)`` factors."""
        f = _check_factors(factors)
        return torch.from_numpy(self._finish(render(f), self.factors_to_index(f)))

    def images(self, idx) -> torch.Tensor:
        """Images of the given indices, rendered lazily."""
        return self.observations(self.index_to_factors(idx))

    def _finish(self, masks: np.ndarray, index: np.ndarray) -> np.ndarray:
        return masks[:, None]


class ColorDSprites(DSprites):
    """dSprites with a random colour per image (uniform in ``[0.5, 1]`` per RGB channel), ``(3, 64, 64)``."""

    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def _finish(self, masks: np.ndarray, index: np.ndarray) -> np.ndarray:
        colours = np.array([np.random.default_rng([self.seed, int(i)]).uniform(0.5, 1.0, 3)
                            for i in index]).reshape(-1, 3)
        return masks[:, None] * colours.astype(np.float32)[:, :, None, None]


class NoisyDSprites(DSprites):
    """dSprites with a white shape on uniform ``[0, 1)`` noise, ``(3, 64, 64)``."""

    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def _finish(self, masks: np.ndarray, index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        for row, i in enumerate(index):
            np.random.default_rng([self.seed, int(i)]).random(dtype=np.float32, out=out[row])
        return np.maximum(out, masks[:, None], out=out)


VARIANTS = {"dsprites": DSprites, "color-dsprites": ColorDSprites, "noisy-dsprites": NoisyDSprites}


def make_dataset(name: str, options: SourceOptions) -> Dataset:
    """``options.n_samples`` (default 20,000) distinct images drawn uniformly without replacement, seeded by
    ``options.seed``; ``factors`` ``(N, 5)``. Colours/noise do not depend on ``options.seed``."""
    data = VARIANTS[name]()
    n = 20_000 if options.n_samples is None else int(options.n_samples)
    if not 1 <= n <= len(data):
        raise DataError(f"{name}: n_samples={n} must be between 1 and {len(data)} (the number of images)")
    check_fixed_size(name, options.image_size, (1, IMAGE_SIZE, IMAGE_SIZE))
    index = np.random.default_rng(options.seed).choice(len(data), size=n, replace=False)
    factors = data.index_to_factors(index)
    return Dataset(name=name, x=data.observations(factors), factors=torch.from_numpy(factors),
                   factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES, value_range="unit",
                   meta={"groundtruth": name})


@register_source("dsprites", factors=True)
def load_dsprites(options: SourceOptions) -> Dataset:
    return make_dataset("dsprites", options)


@register_source("color-dsprites", factors=True)
def load_color_dsprites(options: SourceOptions) -> Dataset:
    return make_dataset("color-dsprites", options)


@register_source("noisy-dsprites", factors=True)
def load_noisy_dsprites(options: SourceOptions) -> Dataset:
    return make_dataset("noisy-dsprites", options)
