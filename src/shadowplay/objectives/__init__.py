"""Objectives: reconstruction plus named, weighted regularizer terms, and the presets that combine them."""

from .objective import LossOutput, Objective, OptimizerDefaults
from .presets import (PRESETS, PresetParams, PresetResult, build_preset, check_preset, preset_for, preset_params,
                      register_preset, unread_options_error)
from .schedules import Constant, LinearRamp
from .terms import StepContext, Term, TermOutput
from . import disentangling  # noqa: F401,E402  (registers beta_tcvae, factor_vae, dip_vae_i, dip_vae_ii)
from . import debiasing  # noqa: F401,E402  (registers dbvae, classifier)

__all__ = ["LossOutput", "Objective", "OptimizerDefaults", "PRESETS", "PresetParams", "PresetResult", "build_preset",
           "check_preset", "preset_for", "preset_params", "register_preset", "unread_options_error", "Constant",
           "LinearRamp", "StepContext", "Term", "TermOutput"]
