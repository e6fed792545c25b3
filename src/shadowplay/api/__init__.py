"""The Python API. Every CLI command is a thin wrapper over one function here, with the same keyword names.

>>> import shadowplay as sp
>>> run = sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=30)   # doctest: +SKIP
>>> model = sp.load(run)                                                                # doctest: +SKIP
>>> sp.evaluate(run, iw_samples=1000); sp.report(run)                                  # doctest: +SKIP

``runs.py`` holds the training side (train, resume, load, sample, reconstruct, info, presets, study),
``inspect.py`` the functions that look at a trained run (evaluate, traverse, interpolate, report). The building
blocks (``load_splits``, ``build_objective``, ``model_spec``, ``Run``) come from :mod:`shadowplay.workflow`.
"""

from ..workflow import PosteriorCollapseWarning, Run, build_objective, load_splits, model_spec
from .embed import SPLITS as EMBED_SPLITS
from .embed import Embedding, embed
from .explore import ExposedExplorerWarning, explore
from .outliers import (OutlierEvaluation, OutlierRun, OutlierScores, outliers_evaluate, outliers_fit,
                       outliers_score)
from .inspect import (EVALUATE_SPLITS, Evaluation, InterpolationResult, TraversalResult, evaluate, interpolate,
                      report, traverse)
from .runs import TRAIN_KEYS, RunInfo, info, load, presets, reconstruct, resume, sample, study, train

__all__ = ["EMBED_SPLITS", "Embedding", "embed", "ExposedExplorerWarning", "explore", "OutlierEvaluation",
           "OutlierRun", "OutlierScores", "outliers_evaluate", "outliers_fit", "outliers_score",
           "EVALUATE_SPLITS", "Evaluation",
           "InterpolationResult", "TraversalResult", "evaluate", "interpolate", "report", "traverse",
           "PosteriorCollapseWarning",
           "Run", "RunInfo", "TRAIN_KEYS", "build_objective", "info", "load", "load_splits", "model_spec", "presets",
           "reconstruct", "resume", "sample", "study", "train"]
