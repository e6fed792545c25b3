"""The trainer's side of checkpoints: how optimizer state is flattened into a checkpoint file and rebuilt.

The file format, the names of the files and "the newest readable one" live in :mod:`shadowplay.run.checkpoints`
(re-exported here, so ``shadowplay.training.read_checkpoint`` keeps working).
"""

from __future__ import annotations

from typing import Any

import torch

from ..run.checkpoints import (BEST, FORMAT, STEP_RE, Checkpoint, latest_good, copy_as, prune, read_checkpoint,
                               step_checkpoints, step_name, write_checkpoint)

__all__ = ["BEST", "FORMAT", "STEP_RE", "Checkpoint", "latest_good", "copy_as", "prune", "read_checkpoint",
           "step_checkpoints", "step_name", "write_checkpoint", "optimizer_to_flat", "optimizer_from_flat"]


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
