"""Evaluation as pure functions: a model and data in, arrays and dataclasses out (no files, no training).

* :mod:`.likelihood` — per-input ELBO (reconstruction + KL) and the importance-weighted log p(x).
* :mod:`.diagnostics` — KL per latent dimension, active units, posterior collapse, the aggregate posterior.
* :mod:`.traversal` — latent traversals and interpolations as tensors.
* :mod:`.linear_gaussian` — the linear-Gaussian model with its exact log p(x) and posterior, for checks and teaching.

The CLI commands ``evaluate``, ``traverse``, ``interpolate`` and ``report`` (via ``shadowplay.api``) write the
results into the run folder.
"""

from .diagnostics import (LatentDiagnostics, PosteriorMoments, collapse_advice, gaussian_kl_to_standard,
                          latent_diagnostics, posterior_moments, reconstruction_error, summarize_latents)
from .likelihood import SampleLikelihoods, counter_normal, iw_samples_for_budget, per_sample_likelihoods
from .linear_gaussian import ExactPosterior, exact_log_likelihood, exact_posterior, linear_gaussian_model
from .traversal import (PATHS, RANGE_MODES, Interpolation, LatentTraversal, aggregate_draws, interpolate, lerp,
                        quantile_levels, select_dims, slerp, traversal_values, traverse)

__all__ = ["LatentDiagnostics", "PosteriorMoments", "collapse_advice", "gaussian_kl_to_standard", "latent_diagnostics",
           "posterior_moments", "reconstruction_error", "summarize_latents", "SampleLikelihoods", "counter_normal",
           "iw_samples_for_budget",
           "per_sample_likelihoods", "ExactPosterior", "exact_log_likelihood", "exact_posterior",
           "linear_gaussian_model", "PATHS", "RANGE_MODES", "Interpolation", "LatentTraversal", "aggregate_draws",
           "interpolate", "lerp", "quantile_levels", "select_dims", "slerp", "traversal_values", "traverse"]
