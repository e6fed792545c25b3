"""Run configuration: frozen dataclasses, a YAML file plus ``key=value`` overrides, validated with clear errors.

``RunConfig`` has five sections, each read by one stage::

    data:      DataConfig       source, splits, source options
    model:     ModelConfig      preset, latent size, nets, posterior and likelihood
    objective: ObjectiveConfig  weights of the loss terms (β, γ, capacity, warm-up)
    trainer:   TrainerConfig    epochs, batch, optimizer, device, seed, checkpoints
    debias:    DebiasConfig     DB-VAE's debiased class and resampling (read by the resampling callback)

Keys are written ``section.key`` (``trainer.lr=3e-4``). Unknown keys are rejected with the closest valid name.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    source: str = "digits"           # built-in name or a path (.npy/.npz/.csv/image folder)
    data_dir: str | None = None      # e.g. the Fashion-MNIST IDX folder
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    n_samples: int | None = None     # cap (or dSprites draw) size
    image_size: int | None = None    # image folders: resize to this
    color: str = "auto"              # image folders: auto | grayscale | rgb
    label_column: str | None = None  # CSV
    group_column: str | None = None  # CSV: group ids or names (the bias audit's groups), not a feature
    binarize: bool = False           # dynamic binarization: x ~ Bernoulli(intensity) each batch
    seed: int = 0                    # train/val/test split and drawn subsets (dSprites); not trainer.seed, so a
                                     # study over training seeds keeps one test set
    positive_classes: tuple[int, ...] = (5, 7, 9)  # biased-fmnist: classes labelled positive (footwear)
    rare_fraction: float = 0.005     # biased-fmnist: share of positive training images that are colour-inverted


@dataclass(frozen=True)
class ModelConfig:
    preset: str = "vae"                                # see shadowplay.objectives.presets
    latent_dim: int = 10
    net: str = "auto"                                  # auto | shadowplay.nets.NETS (checked there, where used)
    hidden: tuple[int, ...] = (512, 256)               # MLP widths
    channels: tuple[int, ...] = (32, 32, 64, 64)       # conv widths
    likelihood: str = "auto"                           # auto | shadowplay.distributions.LIKELIHOODS (checked where used)
    scale: float | None = None                         # Gaussian σ / Laplace b; None = learned per dimension


@dataclass(frozen=True)
class ObjectiveConfig:
    beta: float | None = None          # KL weight; None = the preset's default
    capacity_weight: float | None = None    # annealed_vae: γ of γ·|KL − C(t)| (Burgess et al.); None = preset's
    tc_weight: float | None = None          # factor_vae: γ, the weight of the discriminator's TC (Kim & Mnih)
    dimwise_kl_weight: float | None = None  # beta_tcvae: γ, the dimension-wise KL weight (Chen et al.)
    capacity_max: float = 25.0         # Burgess et al. C_max (nats)
    capacity_steps: int = 100_000      # steps to raise C from 0 to C_max
    warmup_steps: int = 0              # KL warm-up: weight rises linearly 0 → β over these steps
    extra: dict = field(default_factory=dict)  # term-specific options of disentangling presets


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int | None = None          # None = auto_epochs(): 30, more on small data (>= 1,000 steps)
    batch_size: int = 128
    lr: float | None = None            # None: the preset's default (objectives.OptimizerDefaults: 1e-3; factor_vae 1e-4)
    optimizer: str = "adam"            # adam | adamw
    weight_decay: float = 0.0
    grad_clip: float | None = None
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    seed: int = 0
    deterministic: bool = False
    checkpoint_every: int = 0          # steps between mid-epoch checkpoints; 0 = at epoch ends only
    checkpoint_min_steps: int = 50     # an epoch's end saves only this many steps after the last save (or a new
                                       # best, the first or last epoch): tiny epochs; 1 = every epoch
    keep_last: int = 3
    log_every: int = 50                # steps between train metric lines
    progress: bool = True
    max_steps: int | None = None       # stop early (tests, budgets)
    precision: str = "fp32"            # fp32 | bf16 (CPU and GPU) | fp16 (GPU, gradient scaler); nets only
    compile: bool = False              # torch.compile the training step's forward (eager if that fails)
    flush_denormal: bool = True        # CPU: subnormal floats → 0 while training (training/denormals.py: 1.9× faster)


@dataclass(frozen=True)
class DebiasConfig:
    debias_class: int = 1              # DB-VAE: the class whose rare inputs are found and resampled
    resample: str = "none"             # none | latent (DB-VAE histograms of μ) | groups (oracle: the true groups)
    bins: int = 10                     # histogram bins per latent dimension
    alpha: float = 0.3                 # histogram smoothing α (> 0); 0.3 suits product (benchmarks/debias.py)
    combine: str = "product"           # product (Amini et al. 2019) | max (course lab, use α ~ 1e-3)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    debias: DebiasConfig = field(default_factory=DebiasConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


RESAMPLE_MODES = ("none", "latent", "groups")
_SECTION_TYPES = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig, "trainer": TrainerConfig,
                  "debias": DebiasConfig}


def all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in _SECTION_TYPES.items() for f in fields(cls)]


# Keys that were renamed: the old name gets an error that says where its meaning went.
_RENAMED = {"objective.gamma": "objective.gamma meant a different weight in each preset and is split by meaning: "
                               "objective.capacity_weight (annealed_vae), objective.tc_weight (factor_vae), "
                               "objective.dimwise_kl_weight (beta_tcvae), objective.extra.lambda_od (dip_vae_*)"}


def _section_meant(section: str) -> str | None:
    """``section`` if it is one, else the closest section name (``trainr`` → ``trainer``), else ``None``."""
    if section in _SECTION_TYPES:
        return section
    return next(iter(difflib.get_close_matches(section, list(_SECTION_TYPES), n=1, cutoff=0.6)), None)


def _suggestions(key: str) -> list[str]:
    """The valid keys (or, for a bare word, a section) that ``key`` most likely meant. The section is matched
    first and the name within it, so a typo in the section (``trainr.epochs``) is not matched against every key at
    once, which picked whatever key shared the most letters (``trainr.beta`` → ``trainer.seed``)."""
    section, dot, name = key.partition(".")
    by_name: dict[str, list[str]] = {}
    for full in all_keys():
        by_name.setdefault(full.split(".", 1)[1], []).append(full)
    if not dot:  # a YAML section, or a key written without its section
        if section in by_name:
            return by_name[section]
        close = difflib.get_close_matches(section, list(_SECTION_TYPES), n=1, cutoff=0.6)
        if close:
            return [close[0]]
        close = difflib.get_close_matches(section, list(by_name), n=1, cutoff=0.6)
        return by_name[close[0]] if close else []
    sec = _section_meant(section)
    names = [f.name for f in fields(_SECTION_TYPES[sec])] if sec else []
    if name in names:
        return [f"{sec}.{name}"]
    if name in by_name:  # the right name in another section: trainer.beta → objective.beta
        return by_name[name]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return [f"{sec}.{close[0]}"]
    close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.6)
    return by_name[close[0]] if close else []


def _unknown(key: str, what: str = "config key") -> ConfigError:
    """The error for an unknown ``key`` (``what``: ``config key``, or ``config section`` for a YAML section), with
    the closest valid name, else the keys of the section it names, else every key."""
    if key in _RENAMED:
        return ConfigError(_RENAMED[key])
    section, dot, _ = key.partition(".")
    sec = _section_meant(section)
    close = [] if not dot and section in _SECTION_TYPES else _suggestions(key)
    if close:
        hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif sec:
        keys = ", ".join(f.name for f in fields(_SECTION_TYPES[sec]))
        hint = (f"; {sec!r} is a section: write {sec}.<key>=value with a key of {keys}" if not dot else
                f"; the {sec} section's keys are {keys}" if sec == section else
                f"; there is no section {section!r} (did you mean {sec!r}? its keys are {keys})")
    else:
        hint = f"; valid keys: {', '.join(all_keys())}"
    return ConfigError(f"unknown {what} {key!r}{hint}")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Turn ``value`` (from YAML or a ``key=value`` string) into the field's type, or raise ConfigError."""
    ann = str(annotation)  # a string such as "float | None" (postponed annotations)
    if value is None:
        if "None" in ann:
            return None
        raise ConfigError(f"{key} may not be empty")
    if isinstance(value, str) and value.lower() in ("none", "null") and "None" in ann:
        return None
    try:
        if ann.startswith("bool"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if ann.startswith("int"):
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if ann.startswith("float"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if ann.startswith("tuple"):
            if isinstance(value, str):
                value = yaml.safe_load(value if value.startswith("[") else f"[{value}]")
            return tuple(int(v) for v in value)
        if ann.startswith("dict"):
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
        if ann.startswith("str"):
            return str(value)
    except (TypeError, ValueError, yaml.YAMLError):
        pass
    else:
        return value
    raise ConfigError(f"{key}={value!r} is not a valid {ann}")


def from_dict(d: dict[str, Any] | None, base: RunConfig | None = None) -> RunConfig:
    """Merge a nested dict ``{"trainer": {"lr": 3e-4}}`` into ``base`` (default config)."""
    cfg = base or RunConfig()
    if not d:
        return cfg
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(d).__name__}")
    for section, values in d.items():
        if section not in _SECTION_TYPES:
            raise _unknown(str(section), "config section")
        if not isinstance(values, dict):
            raise ConfigError(f"config section {section!r} must be a mapping, got {values!r}")
        cfg = set_keys(cfg, {f"{section}.{k}": v for k, v in values.items()})
    return cfg


def set_keys(cfg: RunConfig, items: dict[str, Any]) -> RunConfig:
    """Return ``cfg`` with dotted keys set, coerced and checked."""
    for key, value in items.items():
        section, _, name = key.partition(".")
        if section == "objective" and name.startswith("extra.") and name[len("extra."):]:
            # one preset option, objective.extra.lambda_od=3 as the docs name it: merged into the extra mapping,
            # the value read as YAML (3 → int, [0.5, 0.9] → list); the preset checks names and types
            extra = {**cfg.objective.extra,
                     name[len("extra."):]: yaml.safe_load(value) if isinstance(value, str) else value}
            cfg = replace(cfg, objective=replace(cfg.objective, extra=extra))
            continue
        cls = _SECTION_TYPES.get(section)
        ftypes = {f.name: f.type for f in fields(cls)} if cls else {}
        if name not in ftypes:
            raise _unknown(key)
        sub = replace(getattr(cfg, section), **{name: _coerce(key, value, ftypes[name])})
        cfg = replace(cfg, **{section: sub})
    return validate(cfg)


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error on one line with its place: ``line 5, column 1: expected ',' or '}', but got '<stream end>'
    (while parsing a flow mapping from line 4, column 8)``. PyYAML's own text spreads the place over several lines,
    and a one-line error message (the CLI's) kept only the first, which has no line number."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(e).split())
    text = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, where = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context:
        elsewhere = where is not None and (where.line, where.column) != (mark.line, mark.column)
        text += f" ({context}" + (f" from line {where.line + 1}, column {where.column + 1}" if elsewhere else "") + ")"
    return text


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. trainer.lr=3e-4")
        out[key.strip()] = value.strip()
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> RunConfig:
    """Config from an optional YAML file, then ``key=value`` overrides on top."""
    cfg = RunConfig()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            cfg = from_dict(yaml.safe_load(p.read_text()) or {}, cfg)
        except yaml.YAMLError as e:
            raise ConfigError(f"{p} is not valid YAML: {yaml_problem(e)}") from None
    if overrides:
        items = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        cfg = set_keys(cfg, items)
    return cfg


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate(cfg: RunConfig) -> RunConfig:
    """Checks on values that need no data or model to judge."""
    t, m, o, d = cfg.trainer, cfg.model, cfg.objective, cfg.data
    _check(t.epochs is None or t.epochs >= 1, f"trainer.epochs must be >= 1, got {t.epochs}")
    _check(t.batch_size >= 1, f"trainer.batch_size must be >= 1, got {t.batch_size}")
    _check(t.lr is None or t.lr > 0, f"trainer.lr must be > 0 (or none for the preset's default), got {t.lr}")
    _check(t.optimizer in ("adam", "adamw"), f"trainer.optimizer must be adam or adamw, got {t.optimizer!r}")
    _check(t.keep_last >= 1, f"trainer.keep_last must be >= 1, got {t.keep_last}")
    _check(t.checkpoint_every >= 0, "trainer.checkpoint_every must be >= 0 (0 = at epoch ends only)")
    _check(t.checkpoint_min_steps >= 1, "trainer.checkpoint_min_steps must be >= 1 (1 = a checkpoint every epoch)")
    _check(t.log_every >= 1, "trainer.log_every must be >= 1")
    _check(t.max_steps is None or t.max_steps >= 1, "trainer.max_steps must be >= 1")
    _check(t.precision in ("fp32", "bf16", "fp16"), f"trainer.precision must be fp32, bf16 or fp16, got {t.precision!r}")
    _check(m.latent_dim >= 1, f"model.latent_dim must be >= 1, got {m.latent_dim}")
    _check(m.scale is None or m.scale > 0, "model.scale must be > 0 (or none for a learned scale)")
    _check(all(h >= 1 for h in m.hidden) and len(m.hidden) >= 1, "model.hidden must be positive widths")
    _check(o.beta is None or o.beta >= 0, f"objective.beta must be >= 0, got {o.beta}")
    for key in ("capacity_weight", "tc_weight", "dimwise_kl_weight"):
        value = getattr(o, key)
        _check(value is None or value >= 0, f"objective.{key} must be >= 0, got {value}")
    _check(o.capacity_steps >= 1 and o.capacity_max >= 0, "objective.capacity_* must be positive")
    _check(o.warmup_steps >= 0, "objective.warmup_steps must be >= 0")
    _check(d.color in ("auto", "grayscale", "rgb"), f"data.color must be auto, grayscale or rgb, got {d.color!r}")
    _check(0.0 < d.rare_fraction < 1.0, f"data.rare_fraction must lie strictly between 0 and 1, got {d.rare_fraction}")
    b = cfg.debias
    _check(b.resample in RESAMPLE_MODES, f"debias.resample must be one of {', '.join(RESAMPLE_MODES)}, got "
           f"{b.resample!r}")
    _check(b.bins >= 2, f"debias.bins must be >= 2, got {b.bins}")
    _check(0 < b.alpha < float("inf"), f"debias.alpha must be finite and > 0, got {b.alpha}")
    _check(b.combine in ("max", "product"), f"debias.combine must be max or product, got {b.combine!r}")
    return cfg


AUTO_MIN_EPOCHS = 30
AUTO_MIN_STEPS = 1000


DEBIAS_PRESETS = ("dbvae", "classifier")  # the presets that read the debias section (DB-VAE's head)


def unused_options(config: dict[str, Any], net: str | None = None) -> list[str]:
    """Dotted keys of ``config`` (the ``RunConfig.to_dict()`` form a run folder stores) that the run never reads, so
    ``shadowplay info`` can leave them out: the ``debias`` section unless the preset is DB-VAE's or
    ``debias.resample`` is set; ``data.positive_classes``/``rare_fraction`` unless the source is ``biased-fmnist``;
    ``model.channels`` for an MLP and ``model.hidden`` for a conv net, when ``net`` (the resolved net: ``mlp`` or
    ``conv``) is given."""
    unused: list[str] = []
    debias = config.get("debias", {})
    if config.get("model", {}).get("preset") not in DEBIAS_PRESETS and debias.get("resample", "none") == "none":
        unused += [f"debias.{k}" for k in debias]
    if config.get("data", {}).get("source") != "biased-fmnist":
        unused += [f"data.{k}" for k in ("positive_classes", "rare_fraction") if k in config.get("data", {})]
    if net in ("mlp", "conv"):
        unused.append("model.channels" if net == "mlp" else "model.hidden")
    return unused


def auto_epochs(n_train: int, batch_size: int) -> int:
    """The default number of epochs: 30, or enough epochs for 1,000 optimizer steps when the data are small.

    Why: a VAE first learns the mean image and only later starts to use z; with 200 images and batches of 128 an
    epoch is 2 steps, so a fixed 30 epochs is 60 steps and ends with every latent at the prior (issue 9). Measured
    in ``benchmarks/default_settings.py``."""
    steps_per_epoch = max(1, -(-int(n_train) // int(batch_size)))
    return max(AUTO_MIN_EPOCHS, -(-AUTO_MIN_STEPS // steps_per_epoch))


def resolve_epochs(cfg: RunConfig, n_train: int) -> RunConfig:
    """``cfg`` with ``trainer.epochs`` fixed to :func:`auto_epochs` when it is ``None`` (saved resolved in the run,
    so ``resume`` continues to the same end)."""
    if cfg.trainer.epochs is not None:
        return cfg
    return replace(cfg, trainer=replace(cfg.trainer, epochs=auto_epochs(n_train, cfg.trainer.batch_size)))


def save_yaml(cfg: RunConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def positive_env(name: str, default: float, unit: str) -> float:
    """The positive finite number in environment variable ``name`` (``default`` when unset); anything else is a
    :class:`ConfigError` naming the variable, raised where the value is read (it was a ValueError traceback)."""
    raw = os.environ.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a positive number of {unit} (default {default:g})")
    return value
