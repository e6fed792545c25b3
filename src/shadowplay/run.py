"""The run folder: its layout, creation (never over an existing run without ``overwrite``) and reading back.

Layout::

    runs/<name>/
      config.yaml          the resolved config (re-usable with --config)
      run.json             command line, seed, versions, git commit, data facts, model spec, status
      metrics.jsonl        one JSON object per logged step (train) and per epoch (val)
      tensorboard/         the same metrics for TensorBoard
      checkpoints/         step-<9 digits>.safetensors (the last k) and best.safetensors (best validation ELBO)
      samples.png          decoder means of prior draws, written after training
      reconstructions.png  test inputs (top) and their reconstructions (bottom)
      evaluation/          `shadowplay evaluate`: evaluation.json (ELBO, recon, KL, IWAE log p(x), bits/dim,
                           latent diagnostics, metrics), per_sample.npy|.csv (one row per input: index,
                           recon_ll, kl, elbo, log_px, bits_per_dim, recon_sq_error, label), worst_reconstructions.png;
                           other splits add -<split> to each name, other data -<data>-<split>
      traversals/<mode>-<start>/  `shadowplay traverse`: dim-<d>.png per latent, overview.png (one row per latent,
                           by decreasing KL), traversal.gif, traversal.json (dims, values, base codes, KL)
      interpolations/      `shadowplay interpolate`: <from>-<to>-<linear|slerp>.png
      report.html          `shadowplay report`: one self-contained page (reads only the files above)
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import RunConfig, from_dict, save_yaml
from .errors import CheckpointError, ShadowplayError
from .training.checkpoint import Checkpoint, latest_good, read_checkpoint, step_checkpoints


def versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    from . import __version__
    return {"shadowplay": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform()}


def git_commit() -> str | None:
    """The commit of the source tree shadowplay was imported from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def create_run_dir(runs_dir: str | Path, name: str, overwrite: bool) -> Path:
    path = Path(runs_dir) / name
    if path.exists():
        if not overwrite:
            raise ShadowplayError(f"run folder {str(path)!r} already exists; pick another --name, resume it with "
                                  f"`shadowplay resume {path}`, or pass --overwrite to replace it")
        if not (path / "run.json").is_file() and any(path.iterdir()):
            raise ShadowplayError(f"{str(path)!r} exists and is not a shadowplay run; refusing to delete it")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def default_name(preset: str, source: str) -> str:
    stem = Path(source).stem if ("/" in source or "." in source) else source
    return f"{preset}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def write_run_files(path: Path, cfg: RunConfig, info: dict[str, Any]) -> None:
    save_yaml(cfg, path / "config.yaml")
    doc = {"command": sys.argv, "seed": cfg.trainer.seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "versions": versions(), "git_commit": git_commit(), **info}
    (path / "run.json").write_text(json.dumps(doc, indent=2))


def update_run_json(path: Path, **fields: Any) -> None:
    p = Path(path) / "run.json"
    doc = json.loads(p.read_text())
    doc.update(fields)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(p)


@dataclass(frozen=True)
class RunFolder:
    """A run folder read back: its config and ``run.json``."""

    path: Path
    config: RunConfig
    meta: dict[str, Any]

    @property
    def checkpoints(self) -> list[Path]:
        return step_checkpoints(self.path / "checkpoints")

    def checkpoint(self, which: str = "best") -> Checkpoint:
        """``best`` (falls back to the last when no validation ran), ``last``, or a file name/path."""
        folder = self.path / "checkpoints"
        if which == "last":
            return latest_good(folder)
        if which == "best":
            best = folder / "best.safetensors"
            return read_checkpoint(best) if best.is_file() else latest_good(folder)
        p = Path(which)
        return read_checkpoint(p if p.is_file() else folder / which)


def open_run(path: str | Path) -> RunFolder:
    """Read a run folder, or raise ``CheckpointError`` saying why it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise CheckpointError(f"run folder {str(p)!r} does not exist")
    if not (p / "run.json").is_file() or not (p / "config.yaml").is_file():
        raise CheckpointError(f"{str(p)!r} is not a shadowplay run folder (no run.json/config.yaml); "
                              "give the folder `shadowplay train` created, e.g. runs/<name>")
    try:
        meta = json.loads((p / "run.json").read_text())
        cfg = from_dict(yaml.safe_load((p / "config.yaml").read_text()))
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise CheckpointError(f"{str(p)!r}: run.json or config.yaml is unreadable ({e})") from None
    return RunFolder(p, cfg, meta)
