"""Registry of data sources, keyed by the name users pass as ``--data``.

A source is a function ``(options: SourceOptions) -> Dataset | DataSplits``. Returning a plain ``Dataset`` means
"split me randomly from the seed"; returning ``DataSplits`` keeps a split the source defines (e.g. Fashion-MNIST's
official test set). Anything that is not a registered name is treated as a path to a file or folder.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable

from ..errors import DataError
from .base import Dataset, DataSplits, SourceOptions, split_dataset
from .files import load_path, npz_has_factors

__all__ = ["SourceOptions", "Source", "register_source", "source_names", "load_data",
           "has_factors"]  # SourceOptions: re-exported


Source = Callable[[SourceOptions], "Dataset | DataSplits"]
_SOURCES: dict[str, Source] = {}
_FACTORS: dict[str, bool] = {}


def register_source(name: str, factors: bool = False) -> Callable[[Source], Source]:
    """Register a source under ``name``; ``factors``: its datasets carry ground-truth factors (read by
    :func:`has_factors`, so a study refuses factor metrics on other data before it trains anything)."""
    def deco(fn: Source) -> Source:
        _SOURCES[name] = fn
        _FACTORS[name] = factors
        return fn
    return deco


def has_factors(source: str) -> bool | None:
    """Whether the data of ``source`` carry ground-truth factors, told without loading them: a built-in source
    declares it when it registers; of the file formats only an ``.npz`` can hold them (its ``factors`` array, read
    from the archive's index). ``None`` when a path is not on this machine: only loading the data can tell."""
    if source in _SOURCES:
        return _FACTORS[source]
    path = Path(source).expanduser()
    if not path.exists():
        return None
    return path.is_file() and path.suffix.lower() == ".npz" and npz_has_factors(path)


def source_names() -> list[str]:
    return sorted(_SOURCES)


def load_data(source: str, *, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
              options: SourceOptions | None = None) -> DataSplits:
    """Load ``source`` (a built-in name or a path) and split it deterministically by ``seed``."""
    options = options or SourceOptions(seed=seed)
    if source in _SOURCES:
        out = _SOURCES[source](options)
    else:
        path = Path(source).expanduser()
        looks_like_path = any(sep in source for sep in ("/", "\\")) or source.startswith((".", "~"))
        if path.suffix == "" and not path.exists() and not looks_like_path:
            close = difflib.get_close_matches(source, source_names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"unknown data source {source!r}{hint}. Built-in sources: {', '.join(source_names())}; "
                            "or give a path to a .npy/.npz/.csv file or an image folder")
        out = load_path(path, options)
    if isinstance(out, DataSplits):
        return out
    return split_dataset(out, val_fraction, test_fraction, seed)
