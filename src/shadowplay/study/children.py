"""A study's child processes ask to die with the study that started them.

A study runs each step as ``python -m shadowplay <args>`` with ``SHADOWPLAY_STUDY_PID`` set to its own pid;
``shadowplay.__main__`` then calls :func:`die_with_parent` before the CLI starts. ``PR_SET_PDEATHSIG`` (Linux) makes
the kernel send SIGTERM to the child when the study dies, even by SIGKILL, so a killed study never leaves a run
training behind it that a restarted study would race. Setting it in the child after ``exec`` avoids running code
between ``fork`` and ``exec`` in a multi-threaded parent. If the study died before the call, ``getppid()`` no longer
names it and the child should exit at once.

This module starts no process and imports nothing of the CLI: the process boundary is the only link upward.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "SHADOWPLAY_STUDY_PID"


def die_with_parent() -> bool:
    """Ask for SIGTERM when the study (``$SHADOWPLAY_STUDY_PID``) dies; ``False`` if it is already gone."""
    parent = int(os.environ.get(ENV, "0") or 0)
    if not parent:
        return True
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            return False
    return True
