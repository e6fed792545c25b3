"""Entry point of a study's child processes: ask to die with the study, then run ``shadowplay.cli``.

``PR_SET_PDEATHSIG`` (Linux) makes the kernel send SIGTERM to this process when the study that started it dies,
even by SIGKILL, so a killed study never leaves a run training behind it that a restarted study would race. Setting
it here, in the child after ``exec``, avoids running code between ``fork`` and ``exec`` in a multi-threaded
parent. If the study died before the call, ``getppid()`` no longer names it and the child exits at once.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    parent = int(os.environ.get("SHADOWPLAY_STUDY_PID", "0") or 0)
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if parent and os.getppid() != parent:
            return 143
    from ..cli import main as cli_main
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
