"""Presets of the debiasing use (Amini et al., AIES 2019): the joint DB-VAE loss and its plain-classifier baseline.

=============  =================================================================  ====================
preset         objective (minimized, per example)                                 paper
=============  =================================================================  ====================
``dbvae``      L_y + 1[y = c]·(−log p(x|z) + β·KL), β = 1 by default               Amini et al. 2019
``classifier`` L_y alone: the same encoder and head, no VAE (the baseline)         —
=============  =================================================================  ====================

Both need a classifier head on the encoder (``PresetResult.classifier``) and labelled data; the resampling of DB-VAE
is a trainer callback (``shadowplay.debias.Resampling``), not part of the loss.
"""

from __future__ import annotations

from .objective import Objective
from .presets import PresetParams, PresetResult, kl_weight, register_preset
from .terms.dbvae import Classification, DebiasedVAE


@register_preset("dbvae")
def _dbvae(p: PresetParams) -> PresetResult:
    """DB-VAE: classification + VAE loss on the debiased class (β = 1: the paper's plain VAE)."""
    beta = 1.0 if p.beta is None else p.beta
    terms = [(Classification(), 1.0),
             (DebiasedVAE(p.debias_class), {"recon": 1.0, "kl": kl_weight(beta, p.warmup_steps)})]
    return PresetResult("gaussian", Objective(terms), classifier=True)


@register_preset("classifier")
def _classifier(p: PresetParams) -> PresetResult:
    """The DB-VAE encoder and head trained on the classification loss alone (the decoder stays untrained)."""
    return PresetResult("gaussian", Objective([(Classification(), 1.0)]), classifier=True)
