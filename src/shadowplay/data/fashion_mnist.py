"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747) read from its IDX files.

Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX files in ``/usr/share/datasets/fashion-mnist``;
``--data-dir DIR`` points at another folder holding them (gzipped or not). The split is the official one: the
10,000 ``t10k`` images are the test set; a seeded 10 % of the 60,000 training images is the validation set.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a dtype code byte, a byte with the
number of dimensions, then one big-endian int32 per dimension, then the values, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import Dataset, DataSplits, check_fixed_size
from .registry import SourceOptions, register_source

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
VAL_FRACTION = 0.1

_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, detected from its first bytes) into an array of its shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot decompress ({e}); the file is truncated or corrupt, "
                        "download it again") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); expected "
                        "00 00 <dtype code> <ndim>")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    if any(d < 0 for d in dims):
        raise DataError(f"{path}: negative dimension in IDX header {dims}")
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: shape {dims} needs {expected} bytes but the file holds {len(raw)}; "
                        "download it again")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip it (with a fixed mtime, for reproducible bytes) if ``path`` ends ``.gz``."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in _IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise DataError(f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    code = codes[key]
    body = struct.pack(f">BBBB{array.ndim}i", 0, 0, code, array.ndim, *array.shape)
    body += np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(body, mtime=0) if path.name.endswith(".gz") else body)


def _find(folder: Path) -> dict[str, Path]:
    found, missing = {}, []
    for key, stem in FILES.items():
        hits = [folder / name for name in (stem + ".gz", stem) if (folder / name).is_file()]
        if hits:
            found[key] = hits[0]
        else:
            missing.append(f"{stem}(.gz)")
    if missing:
        raise DataError(f"Fashion-MNIST: {', '.join(missing)} not found in {folder}. Install them with "
                        "`sudo apt-get install dataset-fashion-mnist`, or pass --data-dir DIR holding the four "
                        f"IDX files ({', '.join(s + '(.gz)' for s in FILES.values())})")
    return found


def _pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_path}: expected {len(images)} labels to match {images_path}, "
                        f"got shape {labels.shape}")
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise DataError(f"{labels_path}: label {int(labels.max())} is not one of the 10 Fashion-MNIST classes")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


@register_source("fashion-mnist")
def load_fashion_mnist(options: SourceOptions) -> DataSplits:
    """Official splits; images ``(N, 1, 28, 28)`` float32 in ``[0, 1]``, labels ``(N,)`` int64.

    Reads ``options.data_dir`` (default ``/usr/share/datasets/fashion-mnist``), ``options.seed`` (which training
    images are validation) and ``options.n_samples`` (caps the train+val pool, a seeded subset; test stays whole).
    """
    check_fixed_size("fashion-mnist", options.image_size, (1, 28, 28))
    folder = Path(options.data_dir or DEFAULT_DIR).expanduser()
    files = _find(folder)
    x, y = _pair(files["train_images"], files["train_labels"])
    x_test, y_test = _pair(files["test_images"], files["test_labels"])
    n = len(x) if options.n_samples is None else min(int(options.n_samples), len(x))
    if n < 2:
        raise DataError(f"fashion-mnist: n_samples={options.n_samples} leaves too few images; use at least 2")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(options.seed)))[:n]
    n_val = max(1, int(round(n * VAL_FRACTION)))
    val, train = perm[:n_val].sort().values, perm[n_val:].sort().values
    meta = {"classes": list(CLASSES)}

    def make(xs: torch.Tensor, ys: torch.Tensor) -> Dataset:
        return Dataset(name="fashion-mnist", x=xs, labels=ys, value_range="unit", meta=dict(meta))

    return DataSplits(train=make(x[train], y[train]), val=make(x[val], y[val]), test=make(x_test, y_test))
