"""The ``shadowplay`` console script's entry point (``[project.scripts]`` in ``pyproject.toml``).

It lives outside the ``shadowplay`` package on purpose: importing ``shadowplay.cli`` imports the package, and with it
torch, SciPy and scikit-learn, which takes seconds. A script generated for ``shadowplay.cli:main`` does that import
itself, before any of shadowplay's code can catch anything, so Ctrl-C in those first seconds printed a 40-line
traceback of the import machinery. Here the import happens inside a ``try``: Ctrl-C at any moment before the command
runs prints ``interrupted`` and exits with 130 (128 + SIGINT), as Ctrl-C during a command does (``cli.main``).
``python -m shadowplay`` imports the package before any module of it runs and keeps Python's own behaviour.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from shadowplay.cli import main as cli_main
        return cli_main()
    except KeyboardInterrupt:  # cli_main catches its own; this is Ctrl-C during the imports or argument parsing
        print("interrupted", file=sys.stderr)
        return 130
