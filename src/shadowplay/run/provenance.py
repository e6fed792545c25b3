"""What ``run.json`` records about where a run came from: command line, seed, library versions, git commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..config import RunConfig


def versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    from .._version import __version__
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


def command_line() -> list[str]:
    """The command that started the run. Under ``--nproc`` the ranks run ``train --config <a temporary file>``, a
    file gone when the run ends; the launching process passes its own command in ``SHADOWPLAY_LAUNCH_ARGV``."""
    launched = os.environ.get("SHADOWPLAY_LAUNCH_ARGV")
    return json.loads(launched) if launched else list(sys.argv)


def start_meta(cfg: RunConfig, info: dict[str, Any]) -> dict[str, Any]:
    """The ``run.json`` document of a run that is starting: provenance plus ``info`` (data facts, model spec…)."""
    return {"command": command_line(), "seed": cfg.trainer.seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": versions(), "git_commit": git_commit(), **info}
