"""Tiny trained runs (digits, 20 steps, a 32-wide MLP) shared by the evaluation tests, and a linear-Gaussian model
with a known answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shadowplay import api

TINY = {"trainer.max_steps": 20, "model.hidden": [32], "trainer.log_every": 5}


def train_tiny(runs_dir: Path, name: str, model: str = "vae", latent_dim: int = 4) -> Path:
    return api.train(data="digits", model=model, latent_dim=latent_dim, runs_dir=runs_dir, name=name,
                     progress=False, overrides=dict(TINY)).path


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("runs"), "vae")


@pytest.fixture(scope="session")
def ae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("runs"), "ae", model="ae")


class Linear:
    """Helpers for linear-Gaussian test models."""

    @staticmethod
    def columns(d: int, scales: list[float], seed: int = 0) -> torch.Tensor:
        """``(d, len(scales))`` with orthogonal columns of the given norms (a 0 norm makes a dead latent)."""
        q = torch.linalg.qr(torch.randn(d, len(scales), generator=torch.Generator().manual_seed(seed),
                                        dtype=torch.float64))[0]
        return q * torch.tensor(scales, dtype=torch.float64)

    @staticmethod
    def draw(W: torch.Tensor, b: torch.Tensor, sigma: float, n: int, seed: int = 1) -> torch.Tensor:
        """``(n, D)`` float64 exact draws x = Wz + b + σε."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, W.shape[1], generator=g, dtype=torch.float64)
        return z @ W.T + b + sigma * torch.randn(n, W.shape[0], generator=g, dtype=torch.float64)


@pytest.fixture(scope="session")
def linear() -> type[Linear]:
    return Linear
