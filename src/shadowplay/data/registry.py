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
from .files import load_path

__all__ = ["SourceOptions", "Source", "register_source", "source_names", "load_data"]  # SourceOptions: re-exported


Source = Callable[[SourceOptions], "Dataset | DataSplits"]
_SOURCES: dict[str, Source] = {}


def register_source(name: str) -> Callable[[Source], Source]:
    def deco(fn: Source) -> Source:
        _SOURCES[name] = fn
        return fn
    return deco


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
