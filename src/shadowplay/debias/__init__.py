"""Debiasing with learned latent structure (DB-VAE, Amini et al., AIES 2019) and the bias audit.

>>> import shadowplay as sp
>>> w = sp.debias.sampling_weights(codes, bins=10, alpha=0.3, combine="product")       # doctest: +SKIP
>>> report = sp.debias.audit(probabilities, labels, groups)                             # doctest: +SKIP
>>> run = sp.debias.train(data="biased-fmnist", rare_fraction=0.005, epochs=3)          # doctest: +SKIP
>>> sp.debias.audit_run(run, groups="group").table()                                    # doctest: +SKIP

The joint loss is the ``dbvae`` preset (``shadowplay.objectives.debiasing``); the sampling weights and the resampling
callback live with the trainer (``shadowplay.training.weights``/``resampling``, so that a resumed run rebuilds the
callback from its config) and are re-exported here; the audit (``audit.py``), its charts (``figures.py``) and the
run-level functions (``runs.py``: ``train``, ``train_writing_weights``, ``write_weights``, ``audit_run``,
``compare``; the comparison's table and worst-group tests in ``comparison.py``) are this package's own.
"""

from ..errors import DebiasError
from ..training import (COMBINES, MODES, Resampling, check_weight_options, group_balanced_weights, posterior_means,
                        sampling_weights)
from .draws import ConcentratedDrawsWarning, DrawSummary, GroupDraws, summarize_draws
from .audit import AttributeStats, AuditResult, GroupStats, audit, expected_calibration_error, latent_clusters
from .comparison import Comparison, WorstGroupTest, compare_table
from .runs import audit_run, audit_stem, compare, compare_dir, predict, train, train_writing_weights, write_weights

__all__ = ["AttributeStats", "AuditResult", "GroupStats", "audit", "expected_calibration_error", "latent_clusters",
           "MODES", "Resampling", "group_balanced_weights", "posterior_means", "COMBINES", "DebiasError",
           "check_weight_options", "sampling_weights", "ConcentratedDrawsWarning", "DrawSummary", "GroupDraws", "summarize_draws", "audit_run", "audit_stem", "compare", "compare_dir", "compare_table", "predict", "train",
           "train_writing_weights", "write_weights", "Comparison", "WorstGroupTest"]
