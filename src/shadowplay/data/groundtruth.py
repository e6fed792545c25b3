"""The interface of datasets whose ground-truth factors of variation are known.

Disentanglement metrics that sample their own observations (β-VAE score, FactorVAE score) take any object with
these members, so they work with the procedural dSprites, an ``.npz`` of images + integer factors, or a user's own
class. Factor values are integers ``0 .. factor_sizes[k]-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import DataError


@runtime_checkable
class GroundTruthData(Protocol):
    """A factor dataset.

    Members:
        factor_names: ``F`` names.
        factor_sizes: ``F`` ints, the number of values of each factor.
        observation_shape: shape of one observation, e.g. ``(1, 64, 64)``.
        sample_factors(n, rng): ``(n, F)`` int64 array of factor values drawn uniformly and independently.
        observations(factors): ``(n, *observation_shape)`` float32 tensor for an ``(n, F)`` integer array.
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def observations(self, factors: np.ndarray) -> torch.Tensor: ...


IMAGE_KEYS = ("x", "images", "imgs", "data")
FACTOR_KEYS = ("factors", "latents_classes")
_MAX_GRID = 100_000_000


class NpzGroundTruth:
    """:class:`GroundTruthData` over an ``.npz`` of observations and the integer factors that made them.

    Keys: observations under ``x``/``images``/``imgs``/``data`` (``(N, ...)``, laid out and scaled like
    :func:`shadowplay.data.files.array_to_tensor`), factors ``(N, F)`` under ``factors``/``latents_classes`` (the
    original dSprites file's keys, so it loads as is), optional ``factor_names`` ``(F,)`` strings. Factor ``k``
    takes the values ``0 .. max_k`` and ``factor_sizes[k] = max_k + 1``. Each combination may appear once; with
    ``require_complete`` (default) every combination of the grid must be present, otherwise a missing one raises
    a :class:`DataError` when it is looked up. Files are read with ``allow_pickle=False``.
    """

    def __init__(self, path: str | Path, require_complete: bool = True) -> None:
        from .files import channels_first, load_numpy, value_scale

        path = Path(path).expanduser()
        if not path.is_file():
            raise DataError(f"ground-truth file {path} does not exist")
        npz = load_numpy(path)
        if isinstance(npz, np.ndarray):
            raise DataError(f"{path}: expected an .npz archive with images and factors, got a single array")
        with npz:
            image_key = next((k for k in IMAGE_KEYS if k in npz.files), None)
            factor_key = next((k for k in FACTOR_KEYS if k in npz.files), None)
            if image_key is None or factor_key is None:
                raise DataError(f"{path}: needs observations (key {' / '.join(IMAGE_KEYS)}) and integer factors "
                                f"(key {' / '.join(FACTOR_KEYS)}); found keys {', '.join(npz.files) or 'none'}")
            try:
                raw, factors = npz[image_key], npz[factor_key]
                names = npz["factor_names"] if "factor_names" in npz.files else None
            except ValueError:
                raise DataError(f"{path}: holds pickled Python objects, which shadowplay never unpickles; save "
                                "plain numeric arrays (and factor_names as a string array)") from None
        self._images = channels_first(raw, f"{path}[{image_key}]")
        self._scale = value_scale(raw)
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise DataError(f"{path}[{image_key}]: contains NaN or Inf; clean the observations first")
        if factors.dtype.kind not in "iu" or factors.ndim != 2 or len(factors) != len(raw) or factors.min() < 0:
            raise DataError(f"{path}[{factor_key}]: expected non-negative integers of shape (N, F) with "
                            f"N={len(raw)}, got {factors.dtype} {factors.shape}")
        self.factor_sizes = tuple(int(m) + 1 for m in factors.max(0))
        if names is not None and (names.dtype.kind not in "US" or names.shape != (len(self.factor_sizes),)):
            raise DataError(f"{path}: factor_names must be {len(self.factor_sizes)} strings, got {names.shape}")
        self.factor_names = tuple(f"factor_{k}" for k in range(len(self.factor_sizes))) if names is None \
            else tuple(str(n) for n in names)
        self.observation_shape = tuple(self._images.shape[1:])
        total = int(np.prod(self.factor_sizes, dtype=np.int64))
        if total > _MAX_GRID:
            raise DataError(f"{path}: the factor grid {self.factor_sizes} has {total} cells, too many to index")
        flat = np.ravel_multi_index(tuple(factors.T.astype(np.int64)), self.factor_sizes)
        if len(np.unique(flat)) != len(flat):
            dup = factors[np.argmax(np.bincount(flat, minlength=total)[flat] > 1)]
            raise DataError(f"{path}: factor combination {tuple(int(v) for v in dup)} appears more than once; keep "
                            "one observation per combination")
        self._row = np.full(total, -1, np.int64)
        self._row[flat] = np.arange(len(flat))
        self.path = path
        if require_complete and len(flat) < total:
            raise DataError(f"{path}: covers {len(flat)} of the {total} factor combinations "
                            f"(e.g. {self._missing_example()} is missing); metrics that sample factors need the "
                            "full grid (pass require_complete=False to look up only present ones)")

    def _missing_example(self) -> tuple[int, ...]:
        first = int(np.argmax(self._row < 0))
        return tuple(int(v) for v in np.unravel_index(first, self.factor_sizes))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, F)`` int64, each factor uniform and independent (one ``rng.integers`` call)."""
        return rng.integers(0, np.asarray(self.factor_sizes), size=(int(n), len(self.factor_sizes))).astype(np.int64)

    def observations(self, factors: np.ndarray) -> torch.Tensor:
        """``(n, *observation_shape)`` float32 observations for an ``(n, F)`` integer array."""
        f = np.asarray(factors)
        sizes = np.asarray(self.factor_sizes)
        if f.ndim != 2 or f.shape[1] != len(sizes) or f.dtype.kind not in "iu" or (f < 0).any() or (f >= sizes).any():
            raise DataError(f"{self.path}: factors must be an (n, {len(sizes)}) integer array with column k in "
                            f"0..size_k-1, sizes {self.factor_sizes}; got {f.dtype} {f.shape}")
        rows = self._row[np.ravel_multi_index(tuple(f.T.astype(np.int64)), self.factor_sizes)]
        if (rows < 0).any():
            missing = tuple(int(v) for v in f[np.argmax(rows < 0)])
            raise DataError(f"{self.path}: no observation for factor combination {missing}; the file does not "
                            "cover the full grid")
        return torch.from_numpy(np.ascontiguousarray(self._images[rows], dtype=np.float32) / np.float32(self._scale))


def groundtruth_for(dataset: str | Path) -> GroundTruthData:
    """The ground-truth object of ``"dsprites"``, ``"color-dsprites"``, ``"noisy-dsprites"`` or an ``.npz`` path."""
    from .dsprites import VARIANTS

    if str(dataset) in VARIANTS:
        return VARIANTS[str(dataset)]()
    if Path(str(dataset)).suffix.lower() == ".npz":
        return NpzGroundTruth(dataset)
    raise DataError(f"dataset {str(dataset)!r} has no ground-truth factors, so factor-based metrics cannot run on "
                    f"it; use {', '.join(VARIANTS)} or an .npz holding images and integer factors")
