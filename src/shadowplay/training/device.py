"""Device choice, seeding, and the optimizer (Adam/AdamW with the fused kernel where the device has one)."""

from __future__ import annotations

import os
import random
from typing import Iterable

import numpy as np
import torch

from ..errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for but no CUDA GPU is available; use --device auto or cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                          f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); use --device auto")
    if device.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ConfigError(f"--device {name}: {device.type} cannot train a model; use auto, cpu, cuda or cuda:N")
    if device.type != "cpu":
        # torch.device("mps") is accepted on any machine and fails only when memory is first put there; try it
        # now, before a run folder exists, so a wrong device is one line and leaves nothing behind (issue 9).
        try:
            torch.empty(1, device=device)
        except (RuntimeError, AssertionError):
            raise ConfigError(f"--device {name} is not available on this machine (this torch build or this "
                              "hardware has no such backend); use --device auto or cpu") from None
    return device


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); in deterministic mode also ask torch for deterministic
    kernels (and cuBLAS for a fixed workspace, which it needs for that)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def make_optimizer(params: Iterable[torch.nn.Parameter], kind: str, lr: float, weight_decay: float,
                   betas: tuple[float, float] = (0.9, 0.999), device: torch.device | None = None
                   ) -> torch.optim.Optimizer:
    """Adam/AdamW, with torch's fused kernel where the device supports it (CPU and CUDA in torch ≥ 2.4)."""
    params = [p for p in params if p.requires_grad]
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    try:
        return cls(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=lr, betas=betas, weight_decay=weight_decay)
