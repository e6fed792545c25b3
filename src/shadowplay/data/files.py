"""Datasets from the user's own files: ``.npy``, ``.npz``, ``.csv`` or a folder of images.

Nothing is ever unpickled (``allow_pickle=False``): loading a file cannot run code (DESIGN.md, rule 5).

Array layout (``.npy`` and the ``x`` of an ``.npz``), ``N`` rows first:

- ``(N, D)``: tabular, kept as is.
- ``(N, H, W)``: grayscale images, become ``(N, 1, H, W)``.
- ``(N, C, H, W)`` or ``(N, H, W, C)`` with ``C`` in 1, 3, 4: images, channels first (``(N, C, H, W)`` wins when
  both readings are possible).
- ``uint8`` values are divided by 255, except an array holding only 0 and 1 (a binary mask, as dSprites stores
  them), which is kept as 0/1. Other integer and boolean arrays are converted to float32 unchanged, floats are kept.
  ``value_range`` is ``"unit"`` when every value lies in ``[0, 1]``, else ``"real"``.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset, SourceOptions, check_fixed_size, validate_tensor

ARRAY_KEYS = ("x", "images", "data")
LABEL_KEYS = ("labels", "y")
FACTORS_KEY = "factors"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_CHANNELS = (1, 3, 4)


def load_path(path: str | Path, options: SourceOptions) -> Dataset:
    """A :class:`Dataset` from a ``.npy``/``.npz``/``.csv`` file or a folder of images (dispatch on the path)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data path {path} does not exist; give a .npy/.npz/.csv file or a folder of images")
    if path.is_dir():
        return load_image_folder(path, options)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise DataError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use .npy, .npz, .csv or a folder "
                        f"of images ({', '.join(IMAGE_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    ds = load_csv(path, options) if suffix == ".csv" else load_npy(path) if suffix == ".npy" else load_npz(path)
    check_fixed_size(path.name, options.image_size, ds.shape)  # arrays are never resized: refuse, never ignore
    return ds


def channels_first(arr: np.ndarray, name: str) -> np.ndarray:
    """Check dtype and rank and return a view laid out as ``(N, D)`` or ``(N, C, H, W)`` (module docstring)."""
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{name}: dtype {arr.dtype} is not real numbers; save numeric (int/float) arrays only")
    if arr.ndim < 2 or arr.ndim > 4:
        raise DataError(f"{name}: shape {arr.shape} is not supported; use (N, D) tables or (N, H, W), (N, C, H, W), "
                        "(N, H, W, C) images (reshape a 1-D array to (N, 1))")
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4 and arr.shape[1] not in _CHANNELS:
        if arr.shape[3] not in _CHANNELS:
            raise DataError(f"{name}: shape {arr.shape} has no channel axis of size 1, 3 or 4 in position 1 or 3")
        return arr.transpose(0, 3, 1, 2)
    return arr


def value_scale(arr: np.ndarray) -> float:
    """255 for ``uint8`` data using values above 1, else 1 (the divisor that puts the data in float units)."""
    return 255.0 if arr.dtype == np.uint8 and arr.size and int(arr.max()) > 1 else 1.0


def array_to_tensor(arr: np.ndarray, name: str) -> tuple[torch.Tensor, str]:
    """``(x, value_range)``: a float32 tensor laid out as in the module docstring, checked for NaN/Inf/empty."""
    scale = value_scale(arr)
    x = torch.from_numpy(np.ascontiguousarray(channels_first(arr, name))).to(torch.float32)  # one copy, in torch
    if scale != 1.0:
        x.div_(scale)
    validate_tensor(x, name)
    lo, hi = torch.aminmax(x)  # one pass for both ends
    return x, ("unit" if float(lo) >= 0 and float(hi) <= 1 else "real")


def _int_column(arr: np.ndarray, name: str, what: str, n: int, ndim: int) -> torch.Tensor:
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(np.isfinite(arr))
                                             and np.all(arr == np.round(arr))):
        raise DataError(f"{name}: {what} must be integers, got dtype {arr.dtype}; convert with .astype('int64')")
    if arr.ndim != ndim or arr.shape[0] != n:
        want = "(N,)" if ndim == 1 else "(N, F)"
        raise DataError(f"{name}: {what} must have shape {want} with N={n} rows matching x, got {arr.shape}")
    if arr.size and arr.min() < 0:
        raise DataError(f"{name}: {what} must be non-negative integers (0, 1, ...), found {int(arr.min())}")
    return torch.from_numpy(arr.astype(np.int64))


def load_numpy(path: Path):
    """``np.load(path, allow_pickle=False)`` with errors turned into :class:`DataError`."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise DataError(f"{path}: holds pickled Python objects (an object array, or not a NumPy file at all); "
                            "shadowplay never unpickles files, so save plain numeric arrays "
                            "(np.save(path, x.astype('float32')))") from None
        raise DataError(f"{path}: cannot read it as NumPy data ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read it as NumPy data ({e}); the file may be truncated or not NumPy") from None


def load_npy(path: Path) -> Dataset:
    """One array ``(N, ...)``; see the module docstring for the layout."""
    arr = load_numpy(path)
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: is an .npz archive, not a single array; rename it to .npz")
    x, value_range = array_to_tensor(arr, str(path))
    return Dataset(name=path.stem, x=x, value_range=value_range, finite=True)  # array_to_tensor scanned x


def npz_has_factors(path: Path) -> bool:
    """Whether the ``.npz`` at ``path`` holds the ground-truth ``factors`` that :func:`load_npz` reads; only the
    archive's index is read."""
    npz = load_numpy(path)
    if isinstance(npz, np.ndarray):
        return False
    with npz:
        return FACTORS_KEY in npz.files


def load_npz(path: Path) -> Dataset:
    """Key ``x`` (or ``images``/``data``), optional ``labels``/``y`` ``(N,)``, ``factors`` ``(N, F)``,
    ``groups`` ``(N,)`` and ``factor_names`` ``(F,)`` strings."""
    npz = load_numpy(path)
    if isinstance(npz, np.ndarray):
        raise DataError(f"{path}: not an .npz archive; save it with np.savez")

    def get(key: str) -> np.ndarray:
        try:
            return npz[key]
        except ValueError:
            raise DataError(f"{path}: array {key!r} holds pickled Python objects, which shadowplay never "
                            "unpickles; save plain numeric (or string) arrays") from None

    with npz:
        keys = list(npz.files)
        key = next((k for k in ARRAY_KEYS if k in keys), None)
        if key is None:
            raise DataError(f"{path}: no data array; expected one of the keys {', '.join(ARRAY_KEYS)}, found "
                            f"{', '.join(keys) or 'none'}")
        x, value_range = array_to_tensor(get(key), f"{path}[{key}]")
        n = x.shape[0]
        label_key = next((k for k in LABEL_KEYS if k in keys), None)
        labels = None if label_key is None else _int_column(get(label_key), str(path), label_key, n, 1)
        groups = None if "groups" not in keys else _int_column(get("groups"), str(path), "groups", n, 1)
        factors, names, sizes = None, (), ()
        if FACTORS_KEY in keys:
            factors = _int_column(get(FACTORS_KEY), str(path), FACTORS_KEY, n, 2)
            sizes = tuple(int(s) + 1 for s in factors.max(0).values)
            names = tuple(f"factor_{i}" for i in range(len(sizes)))
        if "factor_names" in keys:
            raw = get("factor_names")
            if factors is None or raw.dtype.kind not in "US" or raw.shape != (len(sizes),):
                raise DataError(f"{path}: factor_names must be {len(sizes)} strings matching the columns of "
                                "'factors' (and 'factors' must be present)")
            names = tuple(str(s) for s in raw)
    return Dataset(name=path.stem, x=x, labels=labels, factors=factors, groups=groups, factor_names=names,
                   factor_sizes=sizes, value_range=value_range)


def load_csv(path: Path, options: SourceOptions) -> Dataset:
    """Numeric columns under a header row; ``options.label_column`` names the label column (numbers or class
    names, sorted into ``meta["classes"]``), ``options.group_column`` the group column (ids or names, sorted into
    ``meta["group_names"]``; the bias audit's groups). Neither is a feature. Features ``(N, D)`` are standardized,
    statistics in ``meta``.

    Errors name file lines (as an editor numbers them, the header is line 1) and column names, so a bad cell can
    be found without counting rows."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        rows, lines, end = [], [], 0  # lines[i]: the file line on which rows[i] starts (blank lines are skipped)
        for r in reader:
            if any(cell.strip() for cell in r):
                rows.append(r)
                lines.append(end + 1)
            end = reader.line_num
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row, found {len(rows)} row(s)")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or "" in header:
        raise DataError(f"{path}: the header row must name every column once, got {header}")
    lines = lines[1:]
    for line, r in zip(lines, rows[1:]):
        if len(r) != len(header):
            raise DataError(f"{path}: line {line} has {len(r)} fields but the header has {len(header)}")
    label, group = options.label_column, options.group_column
    for kind, name in (("label", label), ("group", group)):
        if name is not None and name not in header:
            raise DataError(f"{path}: {kind} column {name!r} not found; the columns are {', '.join(header)}")
    if group is not None and group == label:
        raise DataError(f"{path}: column {group!r} cannot be both the label and the group column")
    columns = {h: [r[i].strip() for r in rows[1:]] for i, h in enumerate(header)}
    meta: dict = {}
    labels = None
    if label is not None:
        labels, classes = _csv_labels(path, label, columns.pop(label), lines)
        if classes is not None:
            meta["classes"] = classes
    groups = None
    if group is not None:
        groups, names = _csv_labels(path, group, columns.pop(group), lines, kind="group")
        if names is not None:
            meta["group_names"] = names
    if not columns:
        raise DataError(f"{path}: no feature columns left besides the label and group columns")
    x = np.stack([_csv_numbers(path, name, values, lines) for name, values in columns.items()], axis=1)
    _csv_finite(path, x, list(columns), lines)
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1.0
    meta["standardize"] = {"columns": list(columns), "mean": mean.tolist(), "std": std.tolist()}
    x = apply_standardization(x, meta)
    return Dataset(name=path.stem, x=torch.from_numpy(x), labels=labels, groups=groups, value_range="real",
                   meta=meta)


def _where(lines: list[int], rows) -> str:
    """``"lines 3, 7 and 2 more"``: at most three file line numbers of the data rows ``rows``."""
    rows = list(rows)
    shown = ", ".join(str(lines[i]) for i in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"


def _csv_numbers(path: Path, name: str, values: list[str], lines: list[int]) -> np.ndarray:
    """One column as float64; empty cells (missing values) and text cells are told apart in the error."""
    out = np.empty(len(values), np.float64)
    empty, text = [], []
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            (empty if v == "" else text).append(i)
    if text:
        example = values[text[0]]
        raise DataError(f"{path}: column {name!r} holds text ({example!r} on {_where(lines, text)}), not numbers; "
                        "drop the column, or if it holds the labels name it as the label column with the "
                        f"override data.label_column={name}")
    if empty:
        raise DataError(f"{path}: column {name!r} has {len(empty)} empty cell(s) ({_where(lines, empty)}); fill "
                        "the missing values or drop those rows")
    return out


def _csv_finite(path: Path, x: np.ndarray, names: list[str], lines: list[int]) -> None:
    """Raise a :class:`DataError` naming the lines and columns of NaN/Inf cells of ``x`` ``(N, D)``."""
    bad_rows, bad_cols = np.nonzero(~np.isfinite(x))
    if bad_rows.size == 0:
        return
    cols = ", ".join(repr(names[c]) for c in sorted(set(bad_cols.tolist())))
    rows = sorted(set(bad_rows.tolist()))
    raise DataError(f"{path}: {bad_rows.size} cell(s) hold NaN or Inf, on {_where(lines, rows)} in column(s) "
                    f"{cols}; clean or drop those rows")


def _csv_labels(path: Path, name: str, values: list[str], lines: list[int],
                kind: str = "label") -> tuple[torch.Tensor, list[str] | None]:
    """Integer ids ``(N,)`` of a label (or group) column, and the sorted names when its cells are text."""
    try:
        nums = np.array([float(v) for v in values])
    except ValueError:
        if "" in values:
            empty = [i for i, v in enumerate(values) if v == ""]
            raise DataError(f"{path}: {kind} column {name!r} has empty cells ({_where(lines, empty)}); fill or "
                            "drop those rows") from None
        classes = sorted(set(values))
        lookup = {c: i for i, c in enumerate(classes)}
        return torch.tensor([lookup[v] for v in values], dtype=torch.int64), classes
    if not np.all(np.isfinite(nums)) or np.any(nums != np.round(nums)) or np.any(nums < 0):
        raise DataError(f"{path}: {kind} column {name!r} must hold non-negative integers or names")
    return torch.from_numpy(nums.astype(np.int64)), None


def apply_standardization(x: np.ndarray, meta: dict) -> np.ndarray:
    """``(x - mean) / std`` as float32, with the statistics stored by :func:`load_csv` (``meta`` is the dataset's
    ``meta`` or its ``"standardize"`` entry). ``x`` is ``(N, D)`` with the same ``D`` columns in the same order."""
    stats = meta.get("standardize", meta)
    if not {"mean", "std"} <= set(stats):
        raise DataError("no standardization statistics in meta; expected meta['standardize'] from a CSV dataset")
    mean, std = np.asarray(stats["mean"], np.float64), np.asarray(stats["std"], np.float64)
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != len(mean):
        raise DataError(f"expected rows of {len(mean)} features ({', '.join(stats.get('columns', []))}), "
                        f"got shape {x.shape}")
    return ((x - mean) / std).astype(np.float32)


def restandardize(ds: Dataset, meta: dict) -> Dataset:
    """``ds`` re-expressed with the statistics in ``meta`` (a training run's), so a trained model scores new rows
    on the scale it was trained on. A CSV dataset (standardized with its own statistics) is first taken back to its
    raw values; other rows (``.npy``/``.npz``, shape ``(N, D)``) are raw values already. Columns are compared when
    both sides name them (an outlier detector's statistics of arrays have no column names)."""
    own, stats = ds.meta.get("standardize"), meta.get("standardize", meta)
    if own is not None and "columns" in own and "columns" in stats and list(own["columns"]) != list(stats["columns"]):
        raise DataError(f"{ds.name}: columns {own.get('columns')} differ from the training columns "
                        f"{stats.get('columns')}; give rows with the same columns in the same order")
    raw = ds.x.double().numpy()
    if own is not None:
        raw = raw * np.asarray(own["std"], np.float64) + np.asarray(own["mean"], np.float64)
    x = torch.from_numpy(apply_standardization(raw, stats))
    return replace(ds, x=x, meta={**ds.meta, "standardize": dict(stats)}, value_range="real")


def load_image_folder(path: Path, options: SourceOptions) -> Dataset:
    """Images found recursively (sorted) as ``(N, C, H, W)`` float32 in ``[0, 1]``.

    ``options.image_size`` resizes every image to that square size (bilinear); without it all images must share a
    size. ``options.color``: ``"grayscale"`` (C=1), ``"rgb"`` (C=3) or ``"auto"`` (rgb if any image is not gray;
    alpha is dropped). Images in sub-folders take the first sub-folder's name as their label (sorted names ->
    0, 1, ...; ``meta["classes"]``).
    """
    from PIL import Image

    if options.color not in ("auto", "grayscale", "rgb"):
        raise DataError(f"color must be 'auto', 'grayscale' or 'rgb', got {options.color!r}")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    depth = {len(p.relative_to(path).parts) > 1 for p in files}
    if len(depth) > 1:
        top = next(p for p in files if len(p.relative_to(path).parts) == 1)
        raise DataError(f"{path}: some images sit in sub-folders (labels) and some not (e.g. {top.name}); put every "
                        "image in a class sub-folder, or none")
    images = []
    for p in files:
        try:
            with Image.open(p) as im:
                images.append(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{p}: cannot read this image ({e}); remove or replace it") from None
    size = options.image_size
    if size is None:
        sizes = {im.size for im in images}
        if len(sizes) > 1:
            seen = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
            raise DataError(f"{path}: images have different sizes ({seen}); add the override data.image_size=N to "
                            "resize all of them to NxN")
    elif int(size) < 1:
        raise DataError(f"image_size must be a positive number of pixels, got {size}")
    arrays = [np.asarray(im if size is None else im.resize((int(size), int(size)), Image.Resampling.BILINEAR))
              for im in images]
    rgb = np.stack(arrays).transpose(0, 3, 1, 2)  # (N, 3, H, W) uint8
    gray = bool((rgb[:, 0] == rgb[:, 1]).all() and (rgb[:, 1] == rgb[:, 2]).all())
    if options.color == "grayscale" or (options.color == "auto" and gray):
        rgb = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in arrays])[:, None]
    x = torch.from_numpy(rgb.astype(np.float32) / 255.0)
    labels, meta = None, {}
    if depth == {True}:
        names = [p.relative_to(path).parts[0] for p in files]
        meta["classes"] = sorted(set(names))
        lookup = {c: i for i, c in enumerate(meta["classes"])}
        labels = torch.tensor([lookup[c] for c in names], dtype=torch.int64)
    return Dataset(name=path.name, x=x, labels=labels, value_range="unit", meta=meta)
