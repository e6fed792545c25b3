"""Checkpoints: one safetensors file per save, written atomically, never unpickled.

A checkpoint file holds every tensor of the training state under a prefix (``model/``, ``objective/``,
``optim/<name>/<param index>/<key>``, ``rng/``) and, in the safetensors header's string metadata, a JSON document
with everything else: format version, step, epoch, batch position, optimizer hyper-parameters, the model spec and
the resolved config. The model spec alone rebuilds the architecture, so a checkpoint is self-contained.

Writes go to a temporary file in the same folder, are fsynced, then ``os.replace``-d over the target: a kill at any
moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError

FORMAT = "shadowplay-checkpoint/1"
STEP_RE = re.compile(r"^step-(\d+)\.safetensors$")


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


def optimizer_to_flat(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's ``state_dict`` into tensors (for safetensors) and JSON-able hyper-parameters."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim/{name}/{idx}/{key}"] = val
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(ckpt: Checkpoint, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the ``state_dict`` that :func:`optimizer_to_flat` split."""
    state: dict[int, dict[str, Any]] = {}
    for key, val in ckpt.section(f"optim/{name}").items():
        idx, _, k = key.partition("/")
        state.setdefault(int(idx), {})[k] = val
    for idx, extra in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    return {"state": state, "param_groups": meta["param_groups"]}


def _fsync_dir(path: Path) -> None:
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
    """Load a checkpoint written by :func:`write_checkpoint`; a torn or foreign file raises ``CheckpointError``."""
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


def link_as(src: Path, dst: Path) -> None:
    """Make ``dst`` the same file as ``src`` atomically (hard link; a copy where links are unsupported)."""
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def latest_good(folder: Path) -> Checkpoint:
    """The newest step checkpoint that reads cleanly (a torn newest file falls back to the one before)."""
    errors = []
    for p in reversed(step_checkpoints(folder)):
        try:
            return read_checkpoint(p)
        except CheckpointError as e:
            errors.append(str(e))
    if errors:
        raise CheckpointError("no readable checkpoint: " + "; ".join(errors))
    raise CheckpointError(f"no checkpoint in {str(folder)!r}; the run has not saved one yet")
