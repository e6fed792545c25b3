"""Outlier detection with latent-variable models: per-input scores (higher = more abnormal), detection metrics,
and the scikit-learn/PyOD-style :class:`VAEOutlierDetector`.

``VAEOutlierDetector`` is a scikit-learn estimator, so importing it imports scikit-learn (with SciPy, and pandas where
installed): about a third of the start-up of every ``shadowplay`` command. It is loaded on first use (PEP 562).
"""

from typing import Any

from .registry import SCORE_NAMES, compute_scores
from .combined import CombinedReference, combined_score, conformal_pvalues, fisher_combination, fit_combined
from .complexity import complexity_corrected, png_bits
from .latent import AggregatePosterior, fit_aggregate_posterior, latent_density, latent_knn
from .metrics import DetectionMetrics, detection_metrics, fpr_at_tpr
from .ratio import likelihood_ratio, perturb
from .scores import kl_score, likelihoods, neg_elbo, neg_iwae, recon_error
from .typicality import TypicalityReference, fit_typicality, typicality, typicality_statistic


def __getattr__(name: str) -> Any:
    if name == "VAEOutlierDetector":
        from .detector import VAEOutlierDetector
        return VAEOutlierDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["VAEOutlierDetector", "SCORE_NAMES", "compute_scores", "CombinedReference", "combined_score",
           "conformal_pvalues", "fisher_combination", "fit_combined", "complexity_corrected", "png_bits", "AggregatePosterior", "fit_aggregate_posterior", "latent_density", "latent_knn",
           "DetectionMetrics", "detection_metrics", "fpr_at_tpr", "likelihood_ratio", "perturb", "kl_score",
           "likelihoods", "neg_elbo", "neg_iwae", "recon_error", "TypicalityReference", "fit_typicality",
           "typicality", "typicality_statistic"]
