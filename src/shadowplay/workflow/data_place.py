"""Where a run's data are: the resolved path and a fingerprint, so commands work from any folder and after a move.

``train`` stores a path source as an absolute path (``config.yaml``'s ``data.source``) and the file's (or image
folder's) SHA-256 in ``run.json`` (``data.fingerprint``). Every command that reads a run's data goes through
:func:`run_splits`: a missing path is a one-line error that says how to point at the data (``--data PATH``,
Python ``data=PATH``); a changed file warns (:class:`DataChangedWarning`); data given with ``data=`` whose
fingerprint matches are the run's own data moved elsewhere (:func:`is_run_data`).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from ..config import set_keys
from ..data import DataSplits, source_names
from ..errors import DataError, ShadowplayWarning, user_stacklevel
from ..run import RunFolder
from .build import load_splits

ARRAY_SOURCE = "arrays"  # data.source of a run trained on arrays in memory (shadowplay.sklearn); the data are not kept


class DataChangedWarning(ShadowplayWarning):
    """The run's data file differs from the one it was trained on."""


def is_builtin(source: str) -> bool:
    return source in source_names()


def resolve_source(source: str) -> str:
    """A built-in name unchanged; a path made absolute (so the run reads it from any working folder)."""
    if is_builtin(source):
        return source
    p = Path(source).expanduser()
    return str(p.resolve()) if p.exists() else source


def data_fingerprint(source: str) -> str | None:
    """SHA-256 of a data file, or of an image folder's files (relative names and bytes, sorted); ``None`` for a
    built-in source or a path that does not exist."""
    if is_builtin(source):
        return None
    p = Path(source).expanduser()
    h = hashlib.sha256()
    if p.is_file():
        files = [(p.name, p)]
    elif p.is_dir():
        files = sorted((str(f.relative_to(p)), f) for f in p.rglob("*") if f.is_file())
    else:
        return None
    for name, f in files:
        h.update(name.encode() if p.is_dir() else b"")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def is_run_data(folder: RunFolder, data: str) -> bool:
    """Whether ``data`` holds exactly the data ``folder``'s run was trained on (same fingerprint)."""
    recorded = folder.meta.get("data", {}).get("fingerprint")
    return recorded is not None and data_fingerprint(data) == recorded


def run_splits(folder: RunFolder, data: str | None = None) -> DataSplits:
    """The splits of the run's data, or of ``data`` (a built-in name or a path) loaded with the run's options."""
    cfg = folder.config
    source = cfg.data.source
    if data is not None:
        return load_splits(set_keys(cfg, {"data.source": resolve_source(data)}))
    if source == ARRAY_SOURCE:
        raise DataError(f"{folder.path} was trained on arrays in memory (by `outliers fit` or a scikit-learn "
                        "estimator), which a run does not keep; give the data with --data (Python: data=)")
    if not is_builtin(source) and not Path(source).expanduser().exists():
        raise DataError(f"the data this run was trained on, {source}, are not there any more (moved or deleted); "
                        "point at them with --data PATH (Python: data=PATH)")
    recorded = folder.meta.get("data", {}).get("fingerprint")
    if recorded is not None and data_fingerprint(source) != recorded:
        warnings.warn(f"{source} has changed since this run was trained on it (its SHA-256 differs); the results "
                      "are for its present contents", DataChangedWarning, stacklevel=user_stacklevel())
    return load_splits(cfg)
