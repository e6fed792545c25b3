"""The core of training and loading runs, below every application (API, outliers, debias, sklearn, explorer).

``train_run(cfg, splits=...)`` trains from a config (and data in memory, if given) into a run folder;
``resume_run`` continues one; ``load_model`` rebuilds a trained model; ``load_splits``, ``build_objective`` and
``model_spec`` are the steps in between. ``shadowplay.api`` re-exports what users call.
"""

from .build import OBJECTIVE_SEED_OFFSET, build_objective, load_model, load_splits, model_spec, preset_params
from .data_place import (ARRAY_SOURCE, DataChangedWarning, data_fingerprint, is_builtin, is_run_data, resolve_source,
                         run_splits)
from .latents import PosteriorCollapseWarning, collapse_warnings, latent_check
from .training_run import Run, resume_run, run_on_disk, train_run, write_pictures

__all__ = ["ARRAY_SOURCE", "OBJECTIVE_SEED_OFFSET", "build_objective", "load_model", "load_splits", "model_spec",
           "preset_params", "DataChangedWarning", "data_fingerprint", "is_builtin", "is_run_data", "resolve_source",
           "run_splits",
           "PosteriorCollapseWarning", "collapse_warnings", "latent_check", "Run", "resume_run",
           "run_on_disk", "train_run", "write_pictures"]
