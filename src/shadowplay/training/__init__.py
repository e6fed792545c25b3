"""The trainer, checkpoints, callbacks and metric logs."""

from .callbacks import Callback
from .checkpoint import Checkpoint, latest_good, read_checkpoint, step_checkpoints, write_checkpoint
from .device import make_optimizer, resolve_device, seed_everything
from .logger import MetricsLogger, read_metrics
from .resampling import MODES, Resampling, group_balanced_weights, posterior_means
from .trainer import Trainer, TrainResult
from .weights import COMBINES, check_weight_options, sampling_weights

__all__ = ["Callback", "Checkpoint", "latest_good", "read_checkpoint", "step_checkpoints", "write_checkpoint",
           "resolve_device", "seed_everything", "MetricsLogger", "read_metrics", "Trainer", "TrainResult",
           "make_optimizer", "MODES", "Resampling", "group_balanced_weights", "posterior_means", "COMBINES",
           "check_weight_options", "sampling_weights"]
