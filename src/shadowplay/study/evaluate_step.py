"""A study run's evaluation step: ``shadowplay evaluate RUN --metrics … --checkpoint last`` in its own child process.

The command (see :func:`evaluate_command`) scores the run's **last** checkpoint, as the reference protocol scores the
final model (Locatello et al. 2019), on the study's ``evaluation.split`` (default ``test``): the array metrics use the
posterior means of that split and its ground-truth factors, the sampling metrics (β-VAE and FactorVAE scores) draw
from the source's ground-truth generator, and ``evaluation.options`` passes per-metric keyword arguments
(``--metric-options``). ``evaluation.iw_samples`` (default 1, i.e. a one-draw ELBO; the study is about the
metrics) sets ``--iw-samples``. :func:`read_metrics_output` flattens ``<run>/evaluation/evaluation.json`` into
``{"mig": 0.21, "dci.disentanglement": 0.3, "elbo": -…}``. :func:`evaluation_settings` is what the command is asked
for; the runner records it in each ``results/<run>.json`` and evaluates a finished run again (without retraining it)
when the recorded results do not answer the study file's settings (:func:`settings_changes`: a metric added to
``metrics:``, another split, seed, ``iw_samples`` or option), and not when nothing that changes a number did (the
metrics listed in another order or fewer of them, an option written out at its default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..metrics import metric_option_defaults
from ..run import RunFolder
from .spec import StudyRun, StudySpec

_SKIP_FIELDS = ("seed", "n_", "bins", "batch_size", "prune_threshold")


def flatten(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Scalar float fields of each metric's ``as_dict()``: ``score`` becomes the metric's name, others
    ``metric.field``; sizes, seeds and settings are left out."""
    flat: dict[str, float] = {}
    for name, fields in results.items():
        for key, value in fields.items():
            if isinstance(value, float) and not isinstance(value, bool) and not key.startswith(_SKIP_FIELDS):
                flat[name if key == "score" else f"{name}.{key}"] = value
    return flat


def evaluation_file(spec: StudySpec, run_dir: Path) -> Path:
    return RunFolder(run_dir).evaluation(spec.eval_split).json


def evaluation_settings(spec: StudySpec) -> dict[str, Any]:
    """The settings of the study's evaluate step, as JSON values: ``checkpoint``, ``split``, ``iw_samples``,
    ``seed``, ``metrics`` and the ``options`` of those metrics (options of metrics not asked for are left out, so
    they change nothing)."""
    options = {k: v for k, v in spec.metric_options.items() if k in spec.metrics or "all" in spec.metrics}
    return json.loads(json.dumps({"checkpoint": "last", "split": spec.eval_split, "iw_samples": spec.eval_iw_samples,
                                  "seed": spec.eval_seed, "metrics": list(spec.metrics), "options": options}))


def _options(settings: dict[str, Any], metric: str) -> dict[str, Any]:
    """``metric``'s options in ``settings`` without those given at the metric's own default (JSON-compared)."""
    given = (settings.get("options") or {}).get(metric) or {}
    defaults = json.loads(json.dumps(metric_option_defaults(metric), default=repr))
    return {k: v for k, v in given.items() if k not in defaults or defaults[k] != v}


def settings_changes(result: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """What the evaluation ``settings`` ask that a results file's numbers do not answer (``key: old → new``); empty
    when they answer all of it. Each metric draws from its own stream seeded with the evaluation's seed
    (``metrics.compute_metrics``), so its numbers do not depend on the other metrics evaluated with it: the order
    of ``metrics`` and a metric dropped from it change no number, nor does an option written out at its default.
    A results file of an older shadowplay records no settings, so nothing shows that its numbers answer these."""
    recorded = result.get("evaluation")
    if not isinstance(recorded, dict):
        return ["evaluation settings not recorded"]
    changes = [f"{k}: {recorded.get(k)!r} → {v!r}" for k, v in settings.items()
               if k not in ("metrics", "options") and recorded.get(k) != v]
    had = recorded.get("metrics") or []
    added = [m for m in settings["metrics"] if m not in had]
    changes += [f"metrics: {', '.join(added)} added"] if added else []
    changes += [f"options.{m}: {_options(recorded, m)!r} → {_options(settings, m)!r}" for m in settings["metrics"]
                if m in had and _options(recorded, m) != _options(settings, m)]
    return changes


def answered(result: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the numbers of metrics it recorded that ``settings`` no longer ask for, so a metric
    dropped from ``metrics:`` leaves the tables without evaluating anything again."""
    dropped = set((result.get("evaluation") or {}).get("metrics") or []) - set(settings["metrics"])
    if not dropped:
        return result
    kept = {k: v for k, v in (result.get("metrics") or {}).items() if k.split(".", 1)[0] not in dropped}
    return {**result, "metrics": kept}


def evaluate_command(spec: StudySpec, run: StudyRun, run_dir: Path) -> list[str]:
    """``shadowplay`` arguments that evaluate ``run`` with :func:`evaluation_settings` (see the module docstring)."""
    s = evaluation_settings(spec)
    cmd = ["evaluate", str(run_dir), "--checkpoint", s["checkpoint"], "--split", s["split"], "--iw-samples",
           str(s["iw_samples"]), "--seed", str(s["seed"]), "--no-progress"]  # a log, not a terminal
    if s["metrics"]:
        cmd += ["--metrics", ",".join(s["metrics"])]
        if s["options"]:
            cmd += ["--metric-options", json.dumps(s["options"])]
    return cmd


def read_metrics_output(spec: StudySpec, run: StudyRun, run_dir: Path) -> tuple[dict[str, float], str]:
    """The flat metrics of the run's evaluation file, with its ELBO (and IWAE log p(x) when K > 1)."""
    doc = json.loads(evaluation_file(spec, run_dir).read_text())
    flat = flatten(doc.get("metrics") or {})
    lik = doc.get("likelihood", {})
    if isinstance(lik.get("elbo"), float):
        flat["elbo"] = lik["elbo"]
    # Alemi et al. 2018's rate R = E KL(q(z|x) || p(z)) and distortion D = -E log p(x|z), nats: ELBO = -(D + R)
    if isinstance(lik.get("kl"), float):
        flat["rate"] = lik["kl"]
    if isinstance(lik.get("recon_ll"), float):
        flat["distortion"] = -lik["recon_ll"]
    if spec.eval_iw_samples > 1 and isinstance(lik.get("log_px"), float):
        flat["log_px"] = lik["log_px"]
    return flat, "shadowplay evaluate"
