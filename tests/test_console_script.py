"""The ``shadowplay`` console script (``src/_shadowplay_cli.py``): Ctrl-C while its imports still run exits 130
with one line, as Ctrl-C during a command does, instead of a traceback of the import machinery."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What pip's generated script does with `[project.scripts]`, plus an import hook that stops in the import of torch
# (the first seconds of every real command) and says so, so the test's SIGINT lands there at once, not by timing.
CHILD = """
import sys, time
class Stall:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            print("importing torch", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, Stall())
sys.argv = ["shadowplay", "info", "nowhere"]
from {module} import {func}
sys.exit({func}())
"""


def _entry_point() -> tuple[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    module, func = re.search(r'^shadowplay = "([\w.]+):(\w+)"', text, re.M).groups()
    return module, func


def test_ctrl_c_during_the_imports_prints_one_line_and_exits_130():
    module, func = _entry_point()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    # SIGINT at its default action in the child, as in a terminal (a suite run from a script may inherit it ignored)
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(module=module, func=func)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert child.stdout.readline() == "importing torch\n", child.stderr.read()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert (child.returncode, err) == (130, "interrupted\n")  # it was -2 (SIGINT) after a 30-line traceback


def test_starting_the_cli_does_not_import_scikit_learn_scipy_or_matplotlib():
    """scikit-learn (with SciPy's stats and pandas, which it imports where installed) took about a third of every
    command's start-up, ``shadowplay --help`` included, and matplotlib another ~0.45 s: they are imported by the code
    that fits a scikit-learn model or draws a figure."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    code = ("import sys, shadowplay, shadowplay.cli, shadowplay.outliers\n"
            "print(sorted(m for m in ('sklearn', 'scipy', 'pandas', 'matplotlib') if m in sys.modules))\n"
            "from shadowplay.outliers import VAEOutlierDetector\n"  # the lazily loaded name still resolves
            "print(VAEOutlierDetector.__name__)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "VAEOutlierDetector"]
