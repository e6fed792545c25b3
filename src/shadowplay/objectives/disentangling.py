"""Presets of the disentangling variants: β-TCVAE, FactorVAE, DIP-VAE-I and DIP-VAE-II.

==============  ========================================================================  ==================
preset          objective (minimized, per example)                                        paper
==============  ========================================================================  ==================
``beta_tcvae``  −log p(x|z) + α·MI + β·TC + γ·dim-wise KL (α=γ=1, β=6; MSS estimator)       Chen et al. 2018
``factor_vae``  −log p(x|z) + β·KL + γ·TC_D (β=1, γ=35; discriminator with its own Adam)    Kim & Mnih 2018
``dip_vae_i``   −log p(x|z) + β·KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii−1)², C = Cov[μ]    Kumar et al. 2018
``dip_vae_ii``  the same with C = E[diag σ²] + Cov[μ] (λ_od = λ_d = 1)                      Kumar et al. 2018
==============  ========================================================================  ==================

Options come from ``ObjectiveConfig``: ``beta``, ``dimwise_kl_weight`` (β-TCVAE's γ), ``tc_weight`` (FactorVAE's γ)
and the ``extra`` dict (unknown ``extra`` keys are an error). Defaults and the source each was read from ("the sweep"
is disentanglement_lib's ``config/unsupervised_study_v1/sweep.py``, the study of Locatello et al. 2019;
"shared.gin" its ``model_configs/shared.gin``; anything else is marked as our choice):

- β-TCVAE: β = 6, one of the sweep's values {1, 2, 4, 6, 8, 10} (the choice of 6 among them is ours); α = γ = 1 as
  in disentanglement_lib's ``BetaTCVAE`` ("Equation 5 with alpha = gamma = 1"); ``extra.alpha`` sets α,
  ``dimwise_kl_weight`` the dimension-wise KL weight γ. ``extra.estimator`` ``mss`` (default) or ``mws``: MSS is our
  choice (the reference code of Chen et al. defaults to MWS) because its estimate of q(z) is unbiased, so the logged
  MI, TC and dimension-wise KL are close to the quantities they name. MWS is biased by an amount that depends on how
  much the posteriors overlap (between about −log N and −log B in log q(z), see ``terms/tc.py``); only its
  −log(N·B) shift is a constant.
- FactorVAE: ``tc_weight`` γ = 35 is our choice, not a published setting we could confirm: it lies between the
  sweep's values {10, 20, 30, 40, 50, 100}; set ``tc_weight`` to one of those to match Locatello et al.'s tables.
  KL β = 1 (the FactorVAE objective is the VAE's plus γ·TC). Discriminator: ``extra.disc_hidden`` 1000,
  ``extra.disc_layers`` 6 (Kim & Mnih's appendix A, which disentanglement_lib's ``fc_discriminator`` cites: dense
  layers of 1000 units with leaky ReLU), ``extra.disc_lr`` 1e-4, ``extra.disc_betas`` [0.5, 0.9] (shared.gin's
  discriminator Adam). The VAE's own optimizer: Adam, lr 1e-4, betas (0.9, 0.999) (shared.gin's vae Adam);
  ``trainer.lr`` overrides the lr.
- DIP-VAE-I: λ_od = 10 (one of the sweep's {1, 2, 5, 10, 20, 50}; the choice of 10 is ours), λ_d = 10·λ_od (the
  sweep's ``lambda_d_factor`` 10 for DIP-VAE-I). DIP-VAE-II: λ_od = 1 (the sweep's lowest value; our choice),
  λ_d = λ_od (the sweep's ``lambda_d_factor`` 1 for DIP-VAE-II). ``extra.lambda_od`` and ``extra.lambda_d``
  override them.

Note that shared.gin uses Adam lr 1e-4 for every model of the study; only FactorVAE carries it here (the other
presets keep the library default 1e-3, ``objective.OptimizerDefaults``), so pass ``trainer.lr=1e-4`` to reproduce
the study's setting for them.

Every part is logged unweighted; the β-TCVAE term also reports the closed-form ``kl`` as a diagnostic (logged, never
optimized).
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import ConfigError
from .objective import Objective, OptimizerDefaults
from .presets import PresetParams, PresetResult, kl_weight, register_preset
from .schedules import Constant, LinearRamp
from .terms.dip import DIPPenalty
from .terms.factor_tc import DiscriminatorTC
from .terms.kl import KL
from .terms.recon import Reconstruction
from .terms.tc import ESTIMATORS, BetaTCVAE


def _extra(p: PresetParams, preset: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """``objective.extra`` merged over ``defaults``; each value is coerced to its default's type (a list of floats
    of the same length, a float, a whole-number int or a string) and unknown keys are refused, naming the options."""
    unknown = sorted(set(p.extra) - set(defaults))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(defaults), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"objective.extra key(s) {', '.join(unknown)} are not options of {preset}{hint}; it takes "
                          f"{', '.join(sorted(defaults)) or 'none'}")
    out = dict(defaults)
    for key, value in p.extra.items():
        default = defaults[key]
        try:
            if isinstance(default, (list, tuple)):
                value = [float(v) for v in value]
                if len(value) != len(default):
                    raise ValueError
            elif isinstance(default, float) or default is None:
                value = float(value)
            elif isinstance(default, int):
                if float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"objective.extra.{key}={value!r} is not valid for {preset} "
                              f"(expected something like {default!r})") from None
        out[key] = value
    return out


def _ramp(weight: float, warmup_steps: int) -> Constant | LinearRamp:
    return LinearRamp(0.0, weight, warmup_steps) if warmup_steps > 0 else Constant(weight)


@register_preset("beta_tcvae")
def _beta_tcvae(p: PresetParams) -> PresetResult:
    """β-TCVAE: recon + α·MI + β·TC + γ·dim-wise KL (Chen et al. 2018; β=6, α=γ=1, estimator mss|mws)."""
    o = _extra(p, "beta_tcvae", {"alpha": 1.0, "estimator": "mss"})
    if o["estimator"] not in ESTIMATORS:
        raise ConfigError(f"objective.extra.estimator must be mws or mss, got {o['estimator']!r}")
    beta = 6.0 if p.beta is None else p.beta
    gamma = 1.0 if p.dimwise_kl_weight is None else p.dimwise_kl_weight
    est = o["estimator"]
    weights = {"mi": _ramp(o["alpha"], p.warmup_steps), "tc": _ramp(beta, p.warmup_steps),
               "dwkl": _ramp(gamma, p.warmup_steps)}
    return PresetResult("gaussian", Objective([(Reconstruction(), 1.0), (BetaTCVAE(est), weights)]))


# FactorVAE's VAE optimizer: Adam, lr 1e-4, betas (0.9, 0.999), disentanglement_lib's shared.gin (vae/AdamOptimizer).
# The discriminator's optimizer is configured on its term. trainer.lr given by the user wins.
FACTOR_VAE_OPTIMIZER = OptimizerDefaults(lr=1e-4, betas=(0.9, 0.999))


@register_preset("factor_vae")
def _factor_vae(p: PresetParams) -> PresetResult:
    """FactorVAE: recon + KL + γ·TC from a discriminator with its own optimizer (Kim & Mnih 2018; γ=35, lr 1e-4)."""
    o = _extra(p, "factor_vae", {"disc_hidden": 1000, "disc_layers": 6, "disc_lr": 1e-4, "disc_betas": [0.5, 0.9]})
    gamma = 35.0 if p.tc_weight is None else p.tc_weight
    beta = 1.0 if p.beta is None else p.beta
    disc = DiscriminatorTC(p.latent_dim, o["disc_hidden"], o["disc_layers"], o["disc_lr"], tuple(o["disc_betas"]))
    terms = [(Reconstruction(), 1.0), (KL(), kl_weight(beta, p.warmup_steps)), (disc, gamma)]
    return PresetResult("gaussian", Objective(terms, optimizer=FACTOR_VAE_OPTIMIZER))


def _dip(p: PresetParams, kind: str, lambda_od: float, d_factor: float) -> PresetResult:
    name = f"dip_vae_{kind}"
    o = _extra(p, name, {"lambda_od": None, "lambda_d": None})
    od = o["lambda_od"] if o["lambda_od"] is not None else lambda_od
    d = o["lambda_d"] if o["lambda_d"] is not None else d_factor * od
    if od < 0 or d < 0:
        raise ConfigError(f"{name}: lambda_od and lambda_d must be >= 0, got {od} and {d}")
    beta = 1.0 if p.beta is None else p.beta
    terms = [(Reconstruction(), 1.0), (KL(), kl_weight(beta, p.warmup_steps)),
             (DIPPenalty(kind), {"dip_offdiag": od, "dip_diag": d})]
    return PresetResult("gaussian", Objective(terms))


@register_preset("dip_vae_i")
def _dip_vae_i(p: PresetParams) -> PresetResult:
    """DIP-VAE-I: VAE + λ_od Σ C_ij² + λ_d Σ (C_ii−1)², C = Cov[μ] (Kumar et al. 2018; λ_od=10, λ_d=100)."""
    return _dip(p, "i", 10.0, 10.0)


@register_preset("dip_vae_ii")
def _dip_vae_ii(p: PresetParams) -> PresetResult:
    """DIP-VAE-II: VAE + the same penalty on C = E[diag σ²] + Cov[μ] (Kumar et al. 2018; λ_od=λ_d=1)."""
    return _dip(p, "ii", 1.0, 1.0)
