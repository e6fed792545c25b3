"""Presets: a model variant is a posterior kind plus weighted terms, never a new model class.

========================  ==========================================================  ========================
preset                    objective (minimized, per example)                          paper
========================  ==========================================================  ========================
``ae``                    −log p(x|z), point-mass posterior                           —
``vae``                   −log p(x|z) + w(t)·KL, w ramps 0→1 over warm-up steps        Kingma & Welling 2014
``beta_vae``              −log p(x|z) + β·KL (β defaults to 4)                        Higgins et al. 2017
``annealed_vae``          −log p(x|z) + γ·|KL − C(t)| (γ=1000, C_max=25, 100k steps)  Burgess et al. 2018
========================  ==========================================================  ========================

A preset function takes plain values (β, γ, …) and returns a :class:`PresetResult`. Disentangling presets
(β-TCVAE, FactorVAE, DIP-VAE) register themselves the same way in their own modules. Every preset's model
optimizer defaults to ``OptimizerDefaults()`` (Adam, lr 1e-3, betas (0.9, 0.999)) unless its objective is built with
others; ``trainer.lr`` given by the user always wins.

Where each default lives: β, γ and the capacity schedule in the preset function that reads them (below and in
``disentangling.py``); the model optimizer's lr and betas in ``objective.OptimizerDefaults`` or the preset's
``Objective(..., optimizer=...)``; a term's own optimizer on the term (``Term.aux_lr``/``aux_betas``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

from ..config import ObjectiveConfig, RunConfig
from ..errors import ConfigError
from .objective import Objective
from .schedules import Constant, LinearRamp
from .terms.kl import KL, CapacityKL
from .terms.recon import Reconstruction


@dataclass(frozen=True)
class PresetParams:
    """Plain values a preset may read; ``None`` means "the preset's default"."""

    beta: float | None = None
    capacity_weight: float | None = None    # annealed_vae's γ
    tc_weight: float | None = None          # factor_vae's γ
    dimwise_kl_weight: float | None = None  # beta_tcvae's γ
    capacity_max: float = ObjectiveConfig.capacity_max      # defaults are defined once, in the config
    capacity_steps: int = ObjectiveConfig.capacity_steps
    warmup_steps: int = ObjectiveConfig.warmup_steps
    extra: dict[str, Any] = field(default_factory=dict)
    latent_dim: int = 10  # model.latent_dim, for terms with a network on z (FactorVAE's discriminator)
    debias_class: int = 1  # DB-VAE: the class whose latent structure the VAE learns


# The PresetParams fields a user sets in the config's objective section. latent_dim and debias_class come from other
# sections, which more than the preset read, so they are not judged here.
OPTION_FIELDS = ("beta", "capacity_weight", "tc_weight", "dimwise_kl_weight", "capacity_max", "capacity_steps",
                 "warmup_steps", "extra")


class _Recorded(PresetParams):
    """``PresetParams`` that notes which option fields the preset reads (in ``__dict__["_read"]``), so options it
    never reads can be named without each preset declaring its own: a preset cannot read a field it forgot to list."""

    def __getattribute__(self, name: str) -> Any:
        if name in OPTION_FIELDS:
            object.__getattribute__(self, "__dict__").setdefault("_read", set()).add(name)
        return object.__getattribute__(self, name)


@dataclass(frozen=True)
class PresetResult:
    """``posterior``: the model's posterior kind (``gaussian`` or ``point``); ``objective``: its terms, weights and
    optimizer defaults. ``unread``: objective options set away from their default that the preset never read
    (``objective.<field>`` → value; :func:`build_preset` fills it, ``workflow.train_run`` refuses them), ``read``:
    the option fields it did read."""

    posterior: str
    objective: Objective
    classifier: bool = False  # the model needs a classifier head on its encoder and labelled data (DB-VAE)
    unread: dict[str, Any] = field(default_factory=dict)
    read: tuple[str, ...] = ()


_DEFAULTS = PresetParams()
Preset = Callable[[PresetParams], PresetResult]
PRESETS: dict[str, Preset] = {}


def register_preset(name: str) -> Callable[[Preset], Preset]:
    def deco(fn: Preset) -> Preset:
        PRESETS[name] = fn
        return fn
    return deco


def check_preset(name: str) -> None:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}{hint} Choose one of: {', '.join(sorted(PRESETS))}")


def build_preset(name: str, params: PresetParams) -> PresetResult:
    """The preset's objective, with the options it did and did not read (``PresetResult.read``/``unread``)."""
    check_preset(name)
    recorded = _Recorded(**{f.name: getattr(params, f.name) for f in fields(PresetParams)})
    result = PRESETS[name](recorded)
    read = recorded.__dict__.get("_read", set())
    unread = {f"objective.{k}": getattr(params, k) for k in OPTION_FIELDS
              if k not in read and getattr(params, k) != getattr(_DEFAULTS, k)}
    return replace(result, unread=unread, read=tuple(k for k in OPTION_FIELDS if k in read))


def preset_params(cfg: RunConfig) -> PresetParams:
    """The plain values a preset reads, taken from the config's ``objective`` section."""
    o = cfg.objective
    return PresetParams(beta=o.beta, capacity_weight=o.capacity_weight, tc_weight=o.tc_weight,
                        dimwise_kl_weight=o.dimwise_kl_weight, capacity_max=o.capacity_max,
                        capacity_steps=o.capacity_steps, warmup_steps=o.warmup_steps, extra=dict(o.extra),
                        latent_dim=cfg.model.latent_dim, debias_class=cfg.debias.debias_class)


def preset_for(cfg: RunConfig, refuse_unread: bool = False) -> PresetResult:
    """``cfg.model.preset`` built from ``cfg`` (:func:`preset_params`); a bad ``objective.extra`` is refused by the
    preset itself. ``refuse_unread``: also refuse an option the preset never reads (:func:`unread_options_error`),
    the check ``train`` makes before a new run and a study makes for every run before any trains; ``resume`` does
    not, so runs made before the check existed still continue."""
    result = build_preset(cfg.model.preset, preset_params(cfg))
    error = unread_options_error(cfg.model.preset, result) if refuse_unread else None
    if error is not None:
        raise error
    return result


def unread_options_error(name: str, result: PresetResult) -> ConfigError | None:
    """The error for options ``name`` never reads (``--model ae --beta 4``: an autoencoder has no KL to weight), or
    None. Only values away from the default count: a default is not something the user asked for."""
    if not result.unread:
        return None
    given = ", ".join(f"{k}={v}" for k, v in result.unread.items())
    reads = (f"it reads {', '.join(f'objective.{k}' for k in result.read)}" if result.read else
             "it reads no objective option")
    they, them = ("it", "it") if len(result.unread) == 1 else ("they", "them")
    return ConfigError(f"the {name} preset does not use {given} ({reads}): {they} would be ignored; drop {them}, "
                       f"or pick a preset that uses {them} (`shadowplay presets`)")


def kl_weight(beta: float, warmup_steps: int) -> Constant | LinearRamp:
    """β, or a linear KL warm-up 0 → β over ``warmup_steps`` (Bowman et al. 2016; Sønderby et al. 2016)."""
    return LinearRamp(0.0, beta, warmup_steps) if warmup_steps > 0 else Constant(beta)


@register_preset("ae")
def _ae(p: PresetParams) -> PresetResult:
    """Autoencoder: recon only, point-mass posterior (no KL, no sampling)."""
    return PresetResult("point", Objective([(Reconstruction(), 1.0)]))


@register_preset("vae")
def _vae(p: PresetParams) -> PresetResult:
    """VAE: recon + KL, i.e. −ELBO (Kingma & Welling 2014); objective.warmup_steps ramps the KL weight 0 → 1."""
    beta = 1.0 if p.beta is None else p.beta
    return PresetResult("gaussian", Objective([(Reconstruction(), 1.0), (KL(), kl_weight(beta, p.warmup_steps))]))


@register_preset("beta_vae")
def _beta_vae(p: PresetParams) -> PresetResult:
    """β-VAE: recon + β·KL (Higgins et al. 2017; β=4 by default, un-normalized)."""
    beta = 4.0 if p.beta is None else p.beta
    return PresetResult("gaussian", Objective([(Reconstruction(), 1.0), (KL(), kl_weight(beta, p.warmup_steps))]))


@register_preset("annealed_vae")
def _annealed(p: PresetParams) -> PresetResult:
    """Capacity-annealed β-VAE: recon + γ·|KL − C(t)| (Burgess et al. 2018; γ=1000, C_max=25 over 100k steps)."""
    gamma = 1000.0 if p.capacity_weight is None else p.capacity_weight
    # The KL itself is a diagnostic of the capacity term (logged, never optimized), not a weight-0 term.
    terms = [(Reconstruction(), 1.0), (CapacityKL(p.capacity_max, p.capacity_steps), gamma)]
    return PresetResult("gaussian", Objective(terms))
