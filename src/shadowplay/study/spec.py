"""The study file: a base config, a grid of models × hyper-parameters, seeds and metrics, expanded into runs.

Example (``study.yaml``; relative paths are relative to this file's folder)::

    output: out/dsprites            # default: a folder named after the file, next to it
    base:                           # the sections of a run config (data, model, objective, trainer)
      data: {source: dsprites, n_samples: 20000}
      trainer: {max_steps: 3000, epochs: 1000, batch_size: 64}
    models:                         # one entry per preset; a list value is swept
      - {preset: beta_vae, beta: [1, 4, 8]}
      - {preset: beta_tcvae, beta: [6], extra: {estimator: mss}}
      - {preset: factor_vae, tc_weight: 35, trainer.lr: 1e-4}
    seeds: [0, 1, 2]
    metrics: [mig, dci, factor_vae]   # or: all
    evaluation: {split: test, iw_samples: 1, seed: 0, options: {factor_vae: {n_train: 2000}}}

A model entry's plain keys are ``objective`` or ``model`` fields (``beta``, ``tc_weight``, ``extra``, ``latent_dim``,
…); any other config key is written in full (``trainer.lr``); ``extra.<key>`` sets one entry of
``objective.extra``. A list sweeps its values, except for the tuple-valued ``model.hidden``/``model.channels`` where
a list of lists sweeps. Each grid point × seed is one run named deterministically from its values, e.g.
``beta_vae-beta4-s0``; every run's config is resolved and validated before anything starts (including the options
its preset reads, as ``train`` checks them), and so is each
metric against each run's data (``evaluate`` refuses metrics on data without ground-truth factors, and the
sampling metrics on data without a ground-truth generator; the study says so before training anything).
"""

from __future__ import annotations

import os

import difflib
import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import (DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainerConfig, from_dict, set_keys,
                      yaml_problem)
from ..errors import ConfigError, DataError
from ..data import SPLITS, groundtruth_for, has_factors
from ..metrics import METRIC_NAMES, SAMPLING_METRIC_NAMES, MetricError, check_metric_options
from ..model import check_choices
from ..objectives import check_preset, preset_for, preset_params

TOP_KEYS = ("output", "base", "models", "seeds", "metrics", "evaluation")
DEFAULT_METRICS = ("mig", "dci")
EVAL_KEYS = ("seed", "split", "iw_samples", "options")
_OBJECTIVE = {f.name for f in fields(ObjectiveConfig)}
_MODEL = {f.name for f in fields(ModelConfig)} - {"preset"}
_SECTIONS = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig, "trainer": TrainerConfig}
_TUPLE_KEYS = {"model.hidden", "model.channels"}


@dataclass(frozen=True)
class StudyRun:
    """One training run of the grid: ``overrides`` (dotted config keys) applied on the base config."""

    name: str
    preset: str
    seed: int
    params: dict[str, Any]
    config: RunConfig


@dataclass(frozen=True)
class StudySpec:
    path: Path
    output: Path
    runs: tuple[StudyRun, ...]
    metrics: tuple[str, ...]
    eval_seed: int = 0
    eval_split: str = "test"
    eval_iw_samples: int = 1
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def _full_key(key: str) -> str:
    if key in _OBJECTIVE:
        return f"objective.{key}"
    if key in _MODEL:
        return f"model.{key}"
    if key.startswith(("extra.", "objective.extra.")):
        return "objective.extra." + key.split("extra.", 1)[1]
    section, _, name = key.partition(".")
    if section in _SECTIONS and name in {f.name for f in fields(_SECTIONS[section])}:
        if key in ("trainer.seed", "model.preset"):
            raise ConfigError(f"a model entry may not set {key}; use the study's `seeds` and `preset`")
        return key
    known = sorted(_OBJECTIVE | _MODEL) + [f"{s}.{f.name}" for s, c in _SECTIONS.items() for f in fields(c)]
    close = difflib.get_close_matches(key, known, n=1)
    raise ConfigError(f"unknown key {key!r} in a study model entry" + (f"; did you mean {close[0]!r}?" if close else
                      "; use an objective/model field (beta, tc_weight, extra, latent_dim, ...) or section.key"))


def _choices(key: str, value: Any) -> list[Any]:
    if key in _TUPLE_KEYS:
        return list(value) if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{key}: an empty list sweeps nothing; give at least one value")
        return list(value)
    return [value]


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(f"{k}{_fmt(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    return str(value)


def run_name(preset: str, params: dict[str, Any], seed: int) -> str:
    """``preset-<key><value>…-s<seed>`` (a dict contributes its own key-value pairs), restricted to letters,
    digits, ``.``, ``_`` and ``-``."""
    parts = [preset] + [_fmt(v) if isinstance(v, dict) else f"{k.rsplit('.', 1)[-1]}{_fmt(v)}"
                        for k, v in params.items()] + [f"s{seed}"]
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))


def _expand(entry: Any, base: RunConfig, seeds: list[int]) -> list[StudyRun]:
    if not isinstance(entry, dict) or "preset" not in entry:
        raise ConfigError(f"each entry of `models` must be a mapping with a `preset`, got {entry!r}")
    preset = str(entry["preset"])
    keys = [k for k in entry if k != "preset"]
    full = [_full_key(str(k)) for k in keys]
    runs = []
    for combo in itertools.product(*[_choices(f, entry[k]) for k, f in zip(keys, full)]):
        items: dict[str, Any] = {"model.preset": preset}
        extra = dict(base.objective.extra)
        for f, v in zip(full, combo):
            if f.startswith("objective.extra."):
                extra[f[len("objective.extra."):]] = v
            elif f == "objective.extra":
                if not isinstance(v, dict):
                    raise ConfigError(f"extra must be a mapping of preset options, got {v!r}")
                extra.update(v)
            else:
                items[f] = v
        params = dict(zip(keys, combo))
        for seed in seeds:
            cfg = set_keys(base, {**items, "objective.extra": extra, "trainer.seed": seed})
            check_preset(preset)  # preset, net, likelihood: a typo fails here, before any run starts
            check_choices(cfg.model.net, cfg.model.likelihood)
            runs.append(StudyRun(run_name(preset, params, seed), preset, seed, params, cfg))
    return runs


def load_study(path: str | Path, output: str | Path | None = None) -> StudySpec:
    """Read and validate a study file; every run's config is resolved here, before anything runs."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"study file {str(p)!r} does not exist")
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p} is not valid YAML: {yaml_problem(e)}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: a study file is a mapping with keys {', '.join(TOP_KEYS)}")
    for key in doc:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
            raise ConfigError(f"{p}: unknown study key {key!r}" + (f"; did you mean {close[0]!r}?" if close else
                              f"; valid keys: {', '.join(TOP_KEYS)}"))
    base = from_dict(doc.get("base") or {})
    seeds = doc.get("seeds", [0])
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{p}: seeds must be a list of non-negative integers, got {doc.get('seeds')!r}")
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{p}: `models` must be a non-empty list such as [{{preset: beta_vae, beta: [1, 4]}}]")
    runs = [r for entry in models for r in _expand(entry, base, list(seeds))]
    dup = sorted({r.name for r in runs if sum(q.name == r.name for q in runs) > 1})
    if dup:
        raise ConfigError(f"{p}: the grid makes the run {dup[0]!r} more than once; remove the repeated entry")
    _check_preset_options(runs, p)
    metrics = _metrics(doc.get("metrics", list(DEFAULT_METRICS)), p)
    _check_metrics_fit_data(runs, metrics, p, "metrics" not in doc)
    ev = doc.get("evaluation") or {}
    if not isinstance(ev, dict) or set(ev) - set(EVAL_KEYS):
        raise ConfigError(f"{p}: `evaluation` takes {', '.join(EVAL_KEYS)}, got {ev!r}")
    if output is not None:
        out = Path(output)
    else:
        out = Path(doc["output"]) if doc.get("output") else Path(p.stem)
        out = out if out.is_absolute() else Path(os.path.normpath(p.parent / out))  # examples/../runs → runs
    split, k = ev.get("split", "test"), ev.get("iw_samples", 1)
    if split not in SPLITS or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{p}: evaluation.split must be one of {', '.join(SPLITS)} and evaluation.iw_samples an "
                          f"integer >= 1; got {split!r} and {k!r}")
    options = ev.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"{p}: evaluation.options must map metric names to keyword arguments, got {options!r}")
    try:  # a misspelt option would fail every run's evaluation after its training
        check_metric_options(options)
    except MetricError as e:
        raise ConfigError(f"{p}: evaluation.options: {e}") from None
    return StudySpec(p, out, tuple(runs), metrics, int(ev.get("seed", 0)), split, k, dict(options))


def _check_preset_options(runs: list[StudyRun], p: Path) -> None:
    """Refuse, before anything trains, what each run's ``train`` step would refuse in its objective: an option its
    preset never reads (``beta_vae`` with ``tc_weight``) or an ``extra`` key it does not take. The check is
    ``train``'s own (``objectives.preset_for``); it used to fail a run only when that run started, after the runs
    before it had trained. Each distinct objective is built once, in a forked RNG."""
    seen: set[str] = set()
    for run in runs:
        key = repr((run.preset, preset_params(run.config)))
        if key in seen:
            continue
        seen.add(key)
        try:
            with torch.random.fork_rng(devices=[]):
                preset_for(run.config, refuse_unread=True)
        except ConfigError as e:
            raise ConfigError(f"{p}: run {run.name}: {e}") from None


def _metrics(value: Any, p: Path) -> tuple[str, ...]:
    names = list(METRIC_NAMES) if value == "all" or value == ["all"] else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{p}: metrics must be a list of names or 'all', got {value!r}")
    for n in names:
        if n not in METRIC_NAMES:
            close = difflib.get_close_matches(n, METRIC_NAMES, n=1)
            raise ConfigError(f"{p}: unknown metric {n!r}" + (f"; did you mean {close[0]!r}?" if close else
                              f"; choose from {', '.join(METRIC_NAMES)} or all"))
    return tuple(names)


def _check_metrics_fit_data(runs: list[StudyRun], metrics: tuple[str, ...], p: Path, default: bool) -> None:
    """Refuse, before anything trains, a metric that the evaluate step would refuse on a run's data: every metric
    needs ground-truth factors (``shadowplay.data.has_factors``), the sampling ones a ground-truth generator
    (``groundtruth_for``). Data this machine cannot see (a path on a Ray cluster only) are left to the evaluate
    step."""
    if not metrics:
        return
    sampling = [m for m in metrics if m in SAMPLING_METRIC_NAMES]
    first_run = {}
    for run in runs:
        first_run.setdefault(run.config.data.source, run.name)
    for source, name in first_run.items():
        if has_factors(source) is False:
            what = ("the default metrics " if default else "metric " if len(metrics) == 1 else "metrics ") + \
                ", ".join(metrics) + (" needs" if len(metrics) == 1 and not default else " need")
            raise ConfigError(f"{p}: {what} ground-truth factors, and the data {source!r} (run {name}) have none; "
                              "train on data with factors (dsprites, color-dsprites, noisy-dsprites, biased-fmnist "
                              "or an .npz with a 'factors' array), or set `metrics: []` to compare likelihoods only")
        npz = Path(source).suffix.lower() == ".npz"
        if not sampling or (npz and not Path(source).expanduser().is_file()):
            continue
        try:
            groundtruth_for(source)
        except DataError as e:
            what = ", ".join(sampling) + (" samples its" if len(sampling) == 1 else " sample their")
            raise ConfigError(f"{p}: {what} own observations from a ground-truth generator, and the data "
                              f"{source!r} (run {name}) have none{f' ({e})' if npz else ''}; use dsprites, "
                              "color-dsprites, noisy-dsprites or an .npz of every factor combination, or drop "
                              "them from `metrics`") from None
