"""Objectives: reconstruction plus named, weighted regularizer terms, and the presets that combine them."""

from .objective import LossOutput, Objective
from .presets import PRESETS, PresetParams, PresetResult, build_preset, check_preset, register_preset
from .schedules import Constant, LinearRamp
from .terms import TERMS, StepContext, Term, register_term

__all__ = ["LossOutput", "Objective", "PRESETS", "PresetParams", "PresetResult", "build_preset", "check_preset",
           "register_preset", "Constant", "LinearRamp", "TERMS", "StepContext", "Term", "register_term"]
