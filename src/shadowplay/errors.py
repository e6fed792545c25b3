"""Exceptions that carry a message meant for a person.

Every error a user can cause is a ``ValueError``/``TypeError``/``FileNotFoundError``/``FileExistsError``
subclass raised where the bad value is used. The CLI prints its message on one line and exits with status 2.
"""

from __future__ import annotations

import os
import sys

# Packages that call an estimator's ``fit`` on the user's behalf (``fit_transform``, pipelines, grid searches): their
# frames are passed over too, so the warning points at the user's line that started the work.
_ON_BEHALF = ("sklearn", "joblib")


def _package_dir(module: object) -> str | None:
    file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) + os.sep if file else None


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` made by the caller of this function that attributes the warning
    to the first frame outside shadowplay (and outside scikit-learn and joblib when they called into it): the
    user's ``api.train(...)`` or ``estimator.fit(...)`` line, however deep in the package the warning was made.
    Python 3.12's ``skip_file_prefixes`` does this; 3.11 has only ``stacklevel``."""
    skip = tuple(d for d in (_package_dir(sys.modules[__package__]),
                             *(_package_dir(sys.modules.get(m)) for m in _ON_BEHALF)) if d)
    frame, level = sys._getframe(1), 1  # the function that calls warnings.warn is stacklevel 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skip):
        frame, level = frame.f_back, level + 1
    return level


class ShadowplayError(ValueError):
    """Base class for user-facing errors: bad input, config or files."""


class ConfigError(ShadowplayError):
    """A config key or value is wrong."""


class DataError(ShadowplayError):
    """Input data are malformed (shape, dtype, NaN/Inf, empty)."""


class CheckpointError(ShadowplayError):
    """A checkpoint or run folder is missing, truncated or not ours."""


class ShadowplayWarning(UserWarning):
    """Something a person should know that does not stop the command (the CLI prints ``warning: <message>``)."""


class CheckpointFallbackWarning(ShadowplayWarning):
    """A checkpoint could not be read and an older one is used instead."""


class DebiasError(ShadowplayError):
    """Bad input to a debiasing function (sampling weights, resampling, the bias audit)."""


class TrainingDivergedError(ShadowplayError):
    """A loss term became NaN or Inf; training stopped, the last good checkpoint is kept."""
