"""A tiny trained digits run and a tiny tabular run for the report tests (20 steps, a 32-wide MLP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shadowplay import api

TINY = {"trainer.max_steps": 20, "model.hidden": [32], "trainer.log_every": 5}


@pytest.fixture(scope="session")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api.train(data="digits", latent_dim=3, runs_dir=tmp_path_factory.mktemp("runs"), name="img",
                     progress=False, overrides=dict(TINY)).path


@pytest.fixture(scope="session")
def tabular_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tab")
    rng = np.random.default_rng(0)
    np.save(folder / "table.npy", rng.random((120, 6), dtype=np.float32))
    return api.train(data=str(folder / "table.npy"), latent_dim=2, runs_dir=folder / "runs", name="tab",
                     progress=False, overrides=dict(TINY)).path
