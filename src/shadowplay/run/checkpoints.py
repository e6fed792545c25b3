"""Checkpoint files: one safetensors file per save, written atomically, never unpickled.

A checkpoint file holds every tensor of the training state under a prefix (``model/``, ``objective/``,
``optim/<name>/<param index>/<key>``, ``rng/``) and, in the safetensors header's string metadata, a JSON document
with everything else: format version, step, epoch, batch position, optimizer hyper-parameters, the model spec and
the resolved config. The model spec alone rebuilds the architecture, so a checkpoint is self-contained.

Writes go to a temporary file in the same folder, are fsynced, then ``os.replace``-d over the target: a kill at any
moment leaves either the old file or the new one, never a torn one.

The file names of a checkpoints folder (``step-<9 digits>.safetensors``, ``best.safetensors``) are spelled here and
nowhere else; :class:`shadowplay.run.RunFolder` and the trainer go through these functions. This module sits below
the trainer (it knows the format, not how training fills it), so reports, studies and the API read checkpoints
without importing ``shadowplay.training``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError, CheckpointFallbackWarning, user_stacklevel

FORMAT = "shadowplay-checkpoint/1"
STEP_RE = re.compile(r"^step-(\d+)\.safetensors$")
BEST = "best.safetensors"


def step_name(step: int) -> str:
    """``step-000001200.safetensors``: nine digits so that names sort like steps."""
    return f"step-{step:09d}.safetensors"


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``tensors`` by full name, ``state`` the JSON document."""

    path: Path
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under ``prefix/`` with the prefix removed (e.g. a ``state_dict``)."""
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (POSIX: a rename lives in the directory, which has its own buffers)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    """Atomically write ``tensors`` and the JSON ``state`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    doc = dict(state, format=FORMAT)
    try:
        save_file(flat, str(tmp), metadata={"shadowplay": json.dumps(doc)})
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed write (disk full, Ctrl-C) leaves the old file and no temporary behind
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def read_checkpoint(path: Path, tensors: bool = True) -> Checkpoint:
    """Load a checkpoint written by :func:`write_checkpoint`; a torn or foreign file raises ``CheckpointError``.
    ``tensors=False`` reads the JSON header only (cheap: for the step of a checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            data = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted or truncated ({e}); "
                              "resume from an older one in the same folder, or retrain") from None
    if "shadowplay" not in meta:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not a shadowplay checkpoint")
    try:
        state = json.loads(meta["shadowplay"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} has an unreadable header ({e})") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {state.get('format')!r}; expected {FORMAT}")
    return Checkpoint(path=path, tensors=data, state=state)


def step_checkpoints(folder: Path) -> list[Path]:
    """``step-*.safetensors`` files in ``folder``, oldest first."""
    if not Path(folder).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def prune(folder: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints (``best`` is a separate file and is kept)."""
    for p in step_checkpoints(folder)[:-keep_last]:
        p.unlink(missing_ok=True)


def copy_as(src: Path, dst: Path) -> None:
    """Make ``dst`` an independent copy of ``src``, atomically (temporary file, fsync, rename).

    A copy, not a hard link: with a link, damage to the step file in place (a disk error, an editor) also damages
    ``best``, which ``sample``, ``evaluate``, ``report`` and ``load`` read by default (issue 9)."""
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dst.parent)


def latest_good(folder: Path, tensors: bool = True) -> Checkpoint:
    """The newest step checkpoint in ``folder`` that reads cleanly (a torn newest file falls back to the one
    before); ``CheckpointError`` when there is none."""
    errors = []
    for p in reversed(step_checkpoints(folder)):
        try:
            ckpt = read_checkpoint(p, tensors)
        except CheckpointError as e:
            errors.append(str(e))
            continue
        if errors:  # never silently: the newest state is lost and the run continues from an older one
            warnings.warn(f"{len(errors)} newer checkpoint(s) could not be read ({errors[0]}); using {p.name} "
                          f"(step {ckpt.state.get('step')}) instead", CheckpointFallbackWarning,
                          stacklevel=user_stacklevel())
        return ckpt
    if errors:
        raise CheckpointError("no readable checkpoint: " + "; ".join(errors))
    raise CheckpointError(f"no checkpoint in {str(folder)!r}; the run has not saved one yet")
