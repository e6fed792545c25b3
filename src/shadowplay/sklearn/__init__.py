"""scikit-learn estimators over shadowplay's models.

``VAEEmbedding`` (feature reduction, a PCA-like transformer) builds on :class:`LatentEstimator` (``_base.py``), the
shared plumbing: parameters → run config, training from arrays through the library's trainer, input checks, and
saving to / loading from a run folder without pickle.
"""

from ._base import ESTIMATOR_FILE, LatentEstimator, NotFittedError
from .embedding import VAEEmbedding

__all__ = ["ESTIMATOR_FILE", "LatentEstimator", "NotFittedError", "VAEEmbedding"]
