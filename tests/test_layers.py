"""The layers of docs/architecture.md are a contract (``[tool.importlinter]`` in pyproject.toml): a module that
imports from a layer above its own fails here, and in ``make test``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_go_downward_only():
    script = Path(sys.executable).parent / "lint-imports"
    assert script.is_file(), "import-linter is missing: install the dev extra (pip install -e '.[dev]')"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([str(script), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout
