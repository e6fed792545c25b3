"""``python -m shadowplay <args>`` is the ``shadowplay`` command. A study's child process (``SHADOWPLAY_STUDY_PID``
set, see :mod:`shadowplay.study.children`) first asks to die with the study, and exits if the study is gone."""

import sys

from .cli import main
from .study.children import die_with_parent

if __name__ == "__main__":
    sys.exit(main() if die_with_parent() else 143)  # 143 = 128 + SIGTERM: as if the study's end had killed us
