"""Input checks and shared estimators for the disentanglement metrics.

Conventions used by every metric in this package:

- ``codes`` is an ``(N, L)`` array of latent codes (usually the posterior means), one row per point.
- ``factors`` is an ``(N, F)`` array of integer ground-truth factor values, one row per point.
- Mutual information and entropies are plug-in estimates in **nats** (natural log), as in disentanglement_lib,
  which calls ``sklearn.metrics.mutual_info_score``; :func:`mutual_info_matrix` gives the same numbers.
- Random draws come from one ``np.random.Generator(np.random.PCG64(seed))`` (:func:`make_rng`).
- Every result is a frozen dataclass with ``as_dict()`` and records the scikit-learn version, because several
  scores depend on it (default solvers and tie-breaking changed between releases).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ShadowplayError
from ..jsonsafe import json_safe

# The installed scikit-learn's version, read from its package metadata: importing scikit-learn (with SciPy and, where
# installed, pandas) took about a third of `shadowplay`'s start-up, so the metrics import it where they fit a model.
SKLEARN_VERSION: str = importlib.metadata.version("scikit-learn")


class MetricError(ShadowplayError):
    """The arrays, dataset or encoder given to a metric cannot be scored; the message says why and what to do."""


def make_rng(seed: int) -> np.random.Generator:
    """The one random stream a metric uses: ``np.random.Generator(np.random.PCG64(seed))``."""
    return np.random.Generator(np.random.PCG64(seed))


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise MetricError(f"{name} could not be read as an array ({exc}); pass a numpy array or torch tensor") from exc


def _check_2d(arr: np.ndarray, name: str, what: str) -> None:
    if arr.ndim != 2:
        raise MetricError(f"{name} must be 2-D {what}, got shape {tuple(arr.shape)}; "
                          f"reshape it (a single column is x[:, None])")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricError(f"{name} is empty (shape {tuple(arr.shape)}); metrics need at least a few points")


def check_codes(codes: Any, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a float64 ``(N, L)`` array, or raise :class:`MetricError` (not 2-D, empty, NaN/Inf)."""
    arr = _as_numpy(codes, name)
    _check_2d(arr, name, "(N points, L code dimensions)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise MetricError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise MetricError(f"{name} contain {int(bad.sum())} NaN/Inf values (first at row {rows[0]}, "
                          f"dimension {cols[0]}); fix the encoder or drop those points")
    return arr


def check_factors(factors: Any, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as an int64 ``(N, F)`` array, or raise :class:`MetricError`.

    Floats are accepted when they are whole numbers. A constant column is an error: every metric measures how the
    codes change with a factor, which needs at least two distinct values of it.
    """
    arr = _as_numpy(factors, name)
    _check_2d(arr, name, "(N points, F factors)")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise MetricError(f"{name} must be integer factor values, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.isfinite(arr).all():
            raise MetricError(f"{name} contain NaN/Inf; factors must be integer values")
        if np.any(arr != np.round(arr)):
            raise MetricError(f"{name} must be integer (discrete) values, but some are not whole numbers; "
                              f"discretize continuous factors first (e.g. np.digitize)")
    arr = arr.astype(np.int64)
    for k in range(arr.shape[1]):
        if np.all(arr[:, k] == arr[0, k]):
            raise MetricError(f"{name} column {k} is constant (every value is {arr[0, k]}); metrics need at least "
                              f"2 distinct values of a factor to measure how codes relate to it: drop that column")
    return arr


def check_codes_factors(codes: Any, factors: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair: float64 ``(N, L)`` codes and int64 ``(N, F)`` factors of the same N."""
    c = check_codes(codes)
    f = check_factors(factors)
    if c.shape[0] != f.shape[0]:
        raise MetricError(f"codes and factors have different lengths ({c.shape[0]} vs {f.shape[0]} points); "
                          f"row i of both must describe the same point")
    return c, f


def check_min_dims(codes: np.ndarray, minimum: int, metric: str) -> None:
    if codes.shape[1] < minimum:
        raise MetricError(f"{metric} compares code dimensions and needs at least {minimum}; "
                          f"got {codes.shape[1]}")


def split_indices(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random train/test split of ``range(n)``: one ``rng.permutation(n)``; the first ``n_test`` are the test."""
    if not 0.0 < test_fraction < 1.0:
        raise MetricError(f"test fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n - n_test < 2:
        raise MetricError(f"{n} points are too few to split with test fraction {test_fraction}; pass more points")
    perm = rng.permutation(n)
    return perm[n_test:], perm[:n_test]


def resolve_split(n: int, test_fraction: float, seed: int, split: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``(train, test)`` row indices a split-based metric uses.

    ``split=None``: :func:`split_indices` with ``test_fraction`` and PCG64(``seed``). Otherwise ``split`` is an
    explicit ``(train_indices, test_indices)`` pair of integer row indices into the codes, so a published protocol
    (e.g. disentanglement_lib's separately drawn 10,000 training and 5,000 test points, concatenated) is reproduced
    exactly. The two parts must be non-empty, in range and disjoint.
    """
    if split is None:
        return split_indices(n, test_fraction, make_rng(seed))
    try:
        train, test = split
    except (TypeError, ValueError):
        raise MetricError("split must be a pair (train_indices, test_indices)") from None
    parts = []
    for name, idx in (("train", train), ("test", test)):
        arr = np.asarray(idx)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            raise MetricError(f"split: the {name} indices must be a non-empty 1-D array of integers, got "
                              f"shape {arr.shape} and dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() >= n:
            raise MetricError(f"split: {name} index out of range for {n} points (got {arr.min()}..{arr.max()})")
        parts.append(arr.astype(np.int64))
    if np.intersect1d(parts[0], parts[1]).size:
        raise MetricError("split: the train and test indices overlap; a point scored on its own training fit "
                          "inflates the score")
    return parts[0], parts[1]


def dead_mask(x: np.ndarray) -> np.ndarray:
    """``(N, L)`` → ``(L,)`` True where a column is constant (max == min).

    Tested exactly, not as ``std == 0``: the std of a constant like 0.7 comes out as ~1e-16 after rounding.
    """
    return x.max(axis=0) == x.min(axis=0)


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Centre and scale each column by the ``train`` mean and std (ddof 0).

    Dead columns (constant on ``train``) are set to 0 everywhere instead of dividing by zero, which is where
    disentanglement_lib's explicitness crashes; they then carry no information, as they should.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    live = ~dead_mask(train)
    scale = np.where(live, std, 1.0)
    return tuple(np.where(live, (x - mean) / scale, 0.0) for x in (train, *others))


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Equal-width histogram bins per code dimension, over the range of all given points.

    Same binning as disentanglement_lib's ``_histogram_discretize`` (``np.histogram`` edges, ``np.digitize`` on
    all but the last edge), but 0-based: ``(N, L)`` float → ``(N, L)`` int64 in ``0 .. bins-1``. A constant
    dimension lands in a single bin.
    """
    if bins < 2:
        raise MetricError(f"bins must be at least 2, got {bins}")
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=bins)
        out[:, j] = np.digitize(codes[:, j], edges[:-1]) - 1
    return out


def _relabel(x: np.ndarray) -> tuple[np.ndarray, int]:
    values, inverse = np.unique(x, return_inverse=True)
    return inverse.reshape(-1), len(values)


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in MI in nats of two label vectors; equals ``sklearn.metrics.mutual_info_score(a, b)``."""
    ia, na = _relabel(a)
    ib, nb = _relabel(b)
    joint = np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb) / len(ia)
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    mi = float(np.sum(joint[nz] * (np.log(joint[nz]) - np.log((pa @ pb)[nz]))))
    return max(mi, 0.0)  # rounding can give -1e-17 for independent labels


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``(N, L)`` discrete codes and ``(N, F)`` discrete factors → ``(L, F)`` plug-in mutual information (nats)."""
    return np.array([[_mutual_info(discrete_codes[:, i], factors[:, k]) for k in range(factors.shape[1])]
                     for i in range(discrete_codes.shape[1])], dtype=np.float64).reshape(
        discrete_codes.shape[1], factors.shape[1])


def entropy(factors: np.ndarray) -> np.ndarray:
    """``(N, F)`` discrete factors → ``(F,)`` plug-in entropies in nats (``H(v) = I(v; v)``)."""
    out = np.empty(factors.shape[1])
    for k in range(factors.shape[1]):
        _, counts = np.unique(factors[:, k], return_counts=True)
        p = counts / counts.sum()
        out[k] = float(-np.sum(p * np.log(p)))
    return out


def frozen(arr: np.ndarray) -> np.ndarray:
    """A read-only float64 copy, so arrays inside frozen result dataclasses cannot be edited in place."""
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


class ResultMixin:
    """``as_dict()`` for the frozen result dataclasses: plain floats, ints, lists and strings.

    Non-finite floats (NaN for an excluded dimension, an infinite total correlation) become ``None`` so that the
    dictionary is valid JSON.
    """

    def as_dict(self) -> dict[str, Any]:
        return {f.name: json_safe(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


# ---- sampling-based metrics (β-VAE and FactorVAE scores) --------------------------------------------------------


def check_groundtruth(data: Any) -> tuple[int, ...]:
    """Check that ``data`` looks like a ``GroundTruthData`` with factors of ≥ 2 values; return its factor sizes."""
    for member in ("factor_sizes", "sample_factors", "observations"):
        if not hasattr(data, member):
            raise MetricError(f"data must implement the GroundTruthData protocol (shadowplay.data.groundtruth); "
                              f"{type(data).__name__} has no '{member}'")
    sizes = tuple(int(s) for s in data.factor_sizes)
    if len(sizes) < 2:
        raise MetricError(f"sampling metrics need at least 2 factors to tell apart, got {len(sizes)}")
    for k, s in enumerate(sizes):
        if s < 2:
            raise MetricError(f"factor {k} has {s} value(s); every factor needs at least 2 values")
    return sizes


Progress = Callable[[int, int], None]
"""``progress(done, total)``: a metric has done ``done`` of ``total`` units of its slow part (a sampling metric: the
observations it encodes; DCI: the boosting stages it fits)."""


def progress_ticker(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """A ``tick(n)`` that adds ``n`` encoded observations and reports ``progress(done, total)``; ``None`` without
    ``progress``. Reporting reads nothing back, so it cannot change a result."""
    if progress is None:
        return None
    if not callable(progress):
        raise MetricError(f"progress must be a callable progress(done, total), got {type(progress).__name__}")
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress(done, total)
    return tick


def encode_factors(data: Any, encode: Callable[[torch.Tensor], Any], factors: np.ndarray,
                   batch_size: int, tick: Callable[[int], None] | None = None) -> np.ndarray:
    """Observations for ``(n, F)`` factors, encoded ``batch_size`` at a time under ``torch.no_grad()``.

    Returns ``(n, L)`` float64 codes. ``encode`` maps a float32 ``(b, *observation_shape)`` tensor to ``(b, L)``
    codes (numpy or torch). Nothing here draws random numbers. ``tick(b)`` (from :func:`progress_ticker`), when
    given, is called after each batch of ``b`` observations.
    """
    if not callable(encode):
        raise MetricError(f"encode must be a callable mapping observations to codes, got {type(encode).__name__}")
    chunks = []
    for start in range(0, len(factors), batch_size):
        part = factors[start:start + batch_size]
        obs = data.observations(part)
        with torch.no_grad():
            z = encode(obs)
        z = check_codes(z, name="encoder output")
        if z.shape[0] != len(part):
            raise MetricError(f"encode returned {z.shape[0]} codes for {len(part)} observations; "
                              f"it must return one row per observation")
        if chunks and z.shape[1] != chunks[0].shape[1]:
            raise MetricError(f"encode returned {z.shape[1]} code dimensions, earlier {chunks[0].shape[1]}")
        chunks.append(z)
        if tick is not None:
            tick(len(part))
    return np.concatenate(chunks, axis=0)


def sample_factors(data: Any, n: int, rng: np.random.Generator, sizes: tuple[int, ...]) -> np.ndarray:
    """``data.sample_factors(n, rng)`` checked to be an ``(n, F)`` integer array inside ``0 .. size-1``."""
    f = np.array(data.sample_factors(n, rng))
    if f.shape != (n, len(sizes)) or not np.issubdtype(f.dtype, np.integer):
        raise MetricError(f"data.sample_factors({n}, rng) must return an ({n}, {len(sizes)}) integer array, "
                          f"got shape {f.shape} and dtype {f.dtype}")
    if f.min() < 0 or np.any(f >= np.asarray(sizes)):
        raise MetricError(f"data.sample_factors returned values outside 0 .. factor_sizes-1 {sizes}")
    return f.astype(np.int64)
