"""Tiny data and estimator settings for the scikit-learn estimator tests (a few hundred rows, one 16-wide layer)."""

from __future__ import annotations

import numpy as np
import pytest

# Small enough that one fit takes well under a second on one thread.
FAST = dict(hidden=(16,), epochs=2, batch_size=32, device="cpu")


def blobs(n: int = 160, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, d)`` points in [0, 1] around 3 centres, and their labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    centres = rng.random((3, d))
    y = rng.integers(0, 3, n)
    x = np.clip(centres[y] + 0.05 * rng.standard_normal((n, d)), 0, 1)
    return x, y


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture
def fast() -> dict:
    return dict(FAST)
