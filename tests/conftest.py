"""Fixtures shared by the whole suite: tiny data files, a temporary runs folder, a CLI runner, and the ``slow``
marker's skip rule (long quality runs execute only with ``SHADOWPLAY_SLOW=1``).

Torch is limited to one thread: the suite's models are tiny, and on a small shared machine several threads per
process only fight each other (a 256-wide MLP step takes ~5 ms on one thread and 30–200 ms on two contended ones).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# Small networks for every test run: a 64-wide MLP, one 8-channel conv layer width.
FAST = ["model.hidden=[64]", "model.channels=[8]", "trainer.batch_size=32"]

torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SHADOWPLAY_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="long quality run; set SHADOWPLAY_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``python -m shadowplay.cli`` child: ``src`` importable, one thread, no colour."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", NO_COLOR="1")
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shadowplay.cli", *map(str, args)]


def run_cli_in(cwd: Path, args: list[str], env: dict[str, str] | None = None, timeout: float = 120
               ) -> subprocess.CompletedProcess:
    """Run ``python -m shadowplay.cli *args`` in ``cwd``; ``env`` adds variables to :func:`subprocess_env`."""
    return subprocess.run(cli_command(*args), cwd=cwd, env=subprocess_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """:func:`run_cli_in` for module-scoped fixtures: ``run_cli(cwd, [args], env=None, timeout=120)``."""
    return run_cli_in


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """``cli("train", "--data", ...)`` runs the CLI in a child process (cwd = a temp folder) and returns the
    completed process with text ``stdout``/``stderr``."""

    def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
        return run_cli_in(cwd or tmp_path, list(args), env, timeout)
    return run


@pytest.fixture
def cli_spawn(tmp_path: Path) -> Callable[..., subprocess.Popen]:
    """``cli_spawn("train", ...)`` starts the CLI in a child process without waiting (stdout/stderr to files in
    the temp folder), for tests that signal or race it. The child gets the default Ctrl-C (SIGINT) action, as a
    command typed in a terminal has: a suite started in the background by a shell without job control (``make test
    &`` in a script) inherits SIGINT ignored, and the explorer's Ctrl-C test then waited 30 s for nothing."""

    def start(*args: str, cwd: Path | None = None, log: str = "child") -> subprocess.Popen:
        out = open(tmp_path / f"{log}.out", "w")
        err = open(tmp_path / f"{log}.err", "w")
        return subprocess.Popen(cli_command(*args), cwd=cwd or tmp_path, env=subprocess_env(), stdout=out,
                                stderr=err, preexec_fn=_default_sigint)
    return start


def _default_sigint() -> None:
    """In the forked child before exec: SIGINT back to its default action (Python then raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def fast() -> list[str]:
    """Overrides that keep every test's networks tiny."""
    return list(FAST)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """An empty folder to hold run folders."""
    p = tmp_path / "runs"
    p.mkdir()
    return p


def block_images(n: int, side: int = 28, seed: int = 0) -> np.ndarray:
    """``(n, 1, side, side)`` float32 in [0, 1]: one bright square of random position and intensity per image
    on a dark background. Structured enough that a few dozen steps visibly lower any reconstruction loss."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, side, side), np.float32)
    w = max(2, side // 4)
    for i in range(n):
        r, c = rng.integers(0, side - w, 2)
        x[i, 0, r:r + w, c:c + w] = 0.5 + 0.5 * rng.random()
    return x


@pytest.fixture(scope="session")
def blocks() -> Callable[..., np.ndarray]:
    """The :func:`block_images` generator, for tests that need their own size of data."""
    return block_images


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``.npy`` file of 256 images ``(1, 28, 28)`` in [0, 1] (conv-net sized)."""
    path = tmp_path_factory.mktemp("data") / "blocks28.npy"
    np.save(path, block_images(256, 28, seed=0))
    return path


@pytest.fixture(scope="session")
def tiny_labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The images of ``tiny_images`` with labels (index mod 2) in an ``.npz``, for presets with a classifier."""
    path = tmp_path_factory.mktemp("data") / "blocks28-labelled.npz"
    np.savez(path, x=block_images(256, 28, seed=0), labels=np.arange(256) % 2)
    return path


@pytest.fixture(scope="session")
def tiny_flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``.npy`` file of 320 images ``(1, 8, 8)`` in [0, 1] (MLP sized, digit-sized)."""
    path = tmp_path_factory.mktemp("data") / "blocks8.npy"
    np.save(path, block_images(320, 8, seed=1))
    return path


# ------------------------------------------------------------------ a tiny fake Fashion-MNIST (debiasing tests)

@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory):
    """400 training images (labels cycle 0..9, so 120 are footwear), 30 test images; noise around a class mean."""
    from shadowplay.data.fashion_mnist import write_idx
    folder = tmp_path_factory.mktemp("fmnist")
    rng = np.random.default_rng(0)
    means = rng.integers(0, 200, (10, 28, 28))

    def images(labels):
        return np.clip(means[labels] + rng.integers(0, 56, (len(labels), 28, 28)), 0, 255).astype(np.uint8)

    train, test = np.arange(400) % 10, np.arange(30) % 10
    write_idx(folder / "train-images-idx3-ubyte.gz", images(train))
    write_idx(folder / "train-labels-idx1-ubyte.gz", train.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images(test))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", test.astype(np.uint8))
    return folder
