"""The Python API. Every CLI command is a thin wrapper over one function here.

>>> import shadowplay as sp
>>> run = sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=30)   # doctest: +SKIP
>>> model = sp.load(run.path)                                                           # doctest: +SKIP
>>> sp.evaluate(run.path, iw_samples=1000); sp.report(run.path)                        # doctest: +SKIP

``runs.py`` holds the training side (train, resume, load, sample, reconstruct, info, study), ``inspect.py`` the
functions that look at a trained run (evaluate, traverse, interpolate, report).
"""

from .inspect import Evaluation, InterpolationResult, TraversalResult, evaluate, interpolate, report, traverse
from .runs import (Run, RunInfo, build_objective, info, load, load_splits, model_spec, reconstruct, resume, sample,
                   study, train)

__all__ = ["Evaluation", "InterpolationResult", "TraversalResult", "evaluate", "interpolate", "report", "traverse",
           "Run", "RunInfo", "build_objective", "info", "load", "load_splits", "model_spec", "reconstruct", "resume",
           "sample", "study", "train"]
