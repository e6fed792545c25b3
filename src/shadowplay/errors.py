"""Exceptions that carry a message meant for a person.

Every error a user can cause is a ``ValueError``/``TypeError``/``FileNotFoundError``/``FileExistsError``
subclass raised where the bad value is used. The CLI prints its message on one line and exits with status 2.
"""

from __future__ import annotations


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
