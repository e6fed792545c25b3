"""What drew the picture pairs of a run folder: ``run.json`` ``pictures`` (``samples.png``, ``reconstructions.png``,
drawn after training) and ``report_pictures`` (the pair a report draws under ``report/``).

A pair drawn together is recorded as one ``{"checkpoint", "step"}``. ``shadowplay sample`` and ``reconstruct``
writing over one of these files (no ``-o``) draw other pictures (their own ``-n``, seed, split, data) with their own
``--checkpoint``: the record then becomes one entry per file name, the redrawn file's naming the command (``by``),
so nothing still claims the pair, and a report draws its own pair rather than caption these with the wrong
weights. Files of either form stay readable: :func:`picture_records` reads both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .folder import RunFolder

PAIR_KEYS = ("pictures", "report_pictures")


def _pair_paths(folder: RunFolder, key: str) -> tuple[Path, Path]:
    return ((folder.samples_path, folder.reconstructions_path) if key == "pictures"
            else (folder.report_samples_path, folder.report_reconstructions_path))


def picture_records(folder: RunFolder, meta: dict[str, Any], key: str = "pictures") -> dict[str, dict[str, Any]]:
    """``{file name: {"checkpoint", "step"[, "by"]}}`` of the pair ``key`` records in ``meta`` (``run.json``);
    files it does not record are missing."""
    rec = meta.get(key) or {}
    names = [p.name for p in _pair_paths(folder, key)]
    if "step" in rec or "checkpoint" in rec:  # drawn together
        return {n: {"checkpoint": rec.get("checkpoint"), "step": rec.get("step")} for n in names}
    return {n: dict(rec[n]) for n in names if isinstance(rec.get(n), dict)}


def drawn_pair(meta: dict[str, Any], key: str = "pictures") -> dict[str, Any] | None:
    """The ``{"checkpoint", "step"}`` of the pair ``key`` while it is the pair drawn together (no file of it redrawn
    by ``sample`` or ``reconstruct``), else ``None``."""
    rec = meta.get(key) or {}
    return {"checkpoint": rec.get("checkpoint"), "step": rec.get("step")} if "step" in rec else None


def pair_of(folder: RunFolder, path: str | Path) -> str | None:
    """The ``run.json`` key (``pictures``, ``report_pictures``) of the pair ``path`` belongs to, or ``None`` for a
    file that is not one of the run folder's recorded pictures (or a folder without ``run.json``)."""
    if not folder.meta_path.is_file():
        return None
    target = Path(path).resolve()
    return next((k for k in PAIR_KEYS if target in [p.resolve() for p in _pair_paths(folder, k)]), None)


def record_redrawn(folder: RunFolder, key: str, path: str | Path, checkpoint: str, step: int | None,
                   by: str) -> None:
    """Record in ``run.json`` that ``by`` (e.g. ``shadowplay sample``) wrote ``path``, a picture of the pair ``key``
    (:func:`pair_of`), with ``checkpoint`` (``step``): the pair's record becomes one entry per file."""
    records = picture_records(folder, folder.meta, key)
    records[Path(path).name] = {"checkpoint": checkpoint, "step": step, "by": by}
    folder.update_meta(**{key: records})
