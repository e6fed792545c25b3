"""Inspection API: evaluate, traverse, interpolate and report on a trained run.

Each function reads a run folder, computes with the pure functions of ``shadowplay.evaluation``, then writes its
files through :class:`shadowplay.run.RunFolder` (which alone names them) for the report to read. ``run`` is a run
folder or the ``Run`` that ``train`` returns; ``checkpoint`` and ``data`` are the CLI's ``--checkpoint``/``--data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import csv
import json
import time
import warnings

import numpy as np

from ..config import set_keys
from ..data import SPLITS
from ..data.files import restandardize
from ..errors import ConfigError, ShadowplayWarning, user_stacklevel
from ..evaluation import (PATHS, RANGE_MODES, aggregate_draws, iw_samples_for_budget, per_sample_likelihoods,
                          posterior_moments,
                          reconstruction_error, select_dims, summarize_latents, traversal_values)
from ..evaluation import interpolate as interpolate_codes
from ..evaluation import traverse as traverse_codes
from ..evaluation.likelihood import check_iw_samples
from ..evaluation.disentanglement import (NOISE_FLOOR_NOTE, check_metric_request, evaluate_disentanglement,
                                          mi_noise_floor)
from ..jsonsafe import json_safe
from ..reports.disentanglement import save_mi_matrix
from ..reports.html import write_report
from ..reports.images import check_picture_path, save_examples, save_interpolation, save_traversal
from ..run import EvaluationFiles, RunFolder, open_run
from ..run.pictures import PAIR_KEYS, drawn_pair
from ..workflow import build_objective, collapse_warnings, is_builtin, is_run_data, run_splits, write_pictures
from .embed import data_rows
from .runs import RunLike, check_model_data, checkpoint_step, load


ALL = "all"  # evaluate's split of every row of the data given with --data, in their own order
EVALUATE_SPLITS = (*SPLITS, ALL)


def _split_data(folder: RunFolder, split: str, data: str | None = None, shape: tuple[int, ...] | None = None):
    """One split of the run's data (or of other ``data`` loaded with the run's data options; ``all``: every row of
    ``data``), checked against what the model takes (shape, and [0, 1] for a Bernoulli likelihood)."""
    cfg = folder.config if data is None else set_keys(folder.config, {"data.source": data})
    if split == ALL:
        if data is None:
            raise ConfigError(f"--split {ALL} scores every row of the data given with --data; the run's own data "
                              f"have the splits {', '.join(SPLITS)}")
        ds = data_rows(folder, data, ALL)  # every row in file order, CSV rows on the training scale
    else:
        ds = run_splits(folder, data).get(split)
        trained_stats = folder.input_standardization
        if data is not None and trained_stats is not None:  # score new rows on the training scale
            ds = restandardize(ds, trained_stats)
    if len(ds) == 0:
        raise ConfigError(f"the {split} split of {cfg.data.source!r} is empty; choose another --split")
    if shape is not None and tuple(ds.shape) != tuple(shape):
        raise ConfigError(f"the data {cfg.data.source!r} have inputs of shape {tuple(ds.shape)} but this model "
                          f"takes {tuple(shape)}; give data of that shape")
    return check_model_data(folder, ds, data)


def _check_index(i: int, n: int, split: str) -> int:
    if not 0 <= int(i) < n:
        raise ConfigError(f"input index {i} is out of range: the {split} split has {n} inputs (0..{n - 1})")
    return int(i)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` computed: the JSON document, per-input likelihoods, latent diagnostics and the
    per-input reconstruction error ``(N,)``; ``files`` are the paths written (empty when ``write=False``)."""

    document: dict[str, Any]
    likelihoods: Any  # shadowplay.evaluation.SampleLikelihoods
    diagnostics: Any  # shadowplay.evaluation.LatentDiagnostics
    recon_sq_error: Any
    files: list[Path]


AUTO_IW_SECONDS = 40.0  # report's importance-sampling budget: the whole report of a fresh run in about a minute


def untrained_decoder_warning(preset: str) -> str:
    """Said instead of the collapse diagnosis for a run whose objective never trains the decoder (``classifier``):
    its "inactive latents" and reconstructions are those of an untrained q(z|x) and p(x|z), not a collapse."""
    return (f"the {preset} objective trains the encoder for its classifier head only: q(z|x) and the decoder "
            "p(x|z) were never trained, so the ELBO, log p(x), reconstructions, traversals and latent diagnostics of "
            "this run describe untrained networks, not a generative model")


def scale_warnings(columns: dict[str, np.ndarray], x: torch.Tensor, trained_range: str | None) -> list[str]:
    """What to say when the scores of ``x`` ``(N, *shape)`` (``columns``: per-input arrays ``(N,)``) are not finite,
    or when a run trained on values in [0, 1] (``trained_range`` ``"unit"``) scores data outside them: 8-bit images
    not divided by 255 overflow the encoder's variance (KL = inf) and the means become undefined."""
    out, lo, hi = [], float(x.min()), float(x.max())
    if trained_range == "unit" and (lo < 0 or hi > 1):
        out.append(f"the data span [{lo:.4g}, {hi:.4g}] but this run was trained on values in [0, 1]: scale them "
                   "the same way (e.g. 8-bit images divided by 255), or the scores measure the scale, not the inputs")
    bad = np.zeros(len(x), dtype=bool)
    for v in columns.values():
        bad |= ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(map(str, rows[:5].tolist())) + (", ..." if len(rows) > 5 else "")
        out.append(f"{len(rows):,} of {len(x):,} inputs have scores that are not finite (inf or NaN; rows {shown}), "
                   "so the means they enter are undefined (their values are in the per-sample table)")
    return out


def evaluate(run: RunLike, split: str | None = None, iw_samples: int | None = 1000,
             metrics: str | list[str] | None = None, checkpoint: str = "best", seed: int = 0, max_rows: int = 4096,
             device: str = "auto", data: str | None = None, write: bool = True,
             metric_options: dict[str, dict[str, Any]] | None = None, progress: bool = True) -> Evaluation:
    """Per-input ELBO (reconstruction + KL), importance-weighted log p(x) with ``iw_samples`` draws, latent
    diagnostics and reconstruction errors on ``split``; written to ``<run>/evaluation/`` when ``write``.

    ``data`` evaluates another data source (a built-in name or a path, loaded with the run's data options),
    e.g. to score inputs unlike the training data. ``split``: ``train``, ``val`` or ``test`` (of the run's data,
    of a built-in source, or the seeded split of a file with the run's fractions), or ``all`` (every row of
    ``data``). Default: ``all`` rows of a file that is not the run's own (new data: none of its rows were trained
    on), otherwise ``test`` (the run's own file, moved or not, includes its training rows). Files (``<s>`` is
    empty for the run's own test split, ``-<split>`` for its other splits, ``-<data>-<split>`` for other data):
    ``evaluation<s>.json``, ``per_sample<s>.npy`` (a structured array) and ``.csv``,
    ``worst_reconstructions<s>.png``.
    ``metrics`` names disentanglement metrics (``shadowplay.metrics.compute_metrics``) computed on the posterior
    means when the data have ground-truth factors; ``"all"`` means every metric the data allow (none, with a note,
    when they have no factors), the sampling metrics (``beta_vae``, ``factor_vae``) draw from the source's
    ground-truth generator, ``metric_options`` passes per-metric keyword arguments, and the latent × factor
    mutual-information matrix is saved as ``mi_matrix<s>.png``.
    ``iw_samples=None`` picks the largest K of 1000, 300, 100, 30, 10, 1 that should take at most
    ``AUTO_IW_SECONDS`` here (``shadowplay.evaluation.iw_samples_for_budget``; what ``report`` does); the K used is
    in the result. ``progress`` shows a bar with the time left (for the likelihoods and for each sampling metric,
    the slow ones: β-VAE and FactorVAE encode 1.9 million and 970,000 observations with their defaults; make them
    cheaper with e.g. ``metric_options={"beta_vae": {"n_train": 2000, "n_eval": 1000}}``).
    """
    if isinstance(metrics, str):  # "all" or "mig,dci" as on the command line
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    check_iw_samples(iw_samples)
    if int(max_rows) != max_rows or max_rows < 1:
        raise ConfigError(f"--max-rows must be an integer >= 1, got {max_rows}")
    if split is not None and split not in EVALUATE_SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(EVALUATE_SPLITS)}")
    if metrics:  # a misspelt name or option is unknown, whatever the data: say so before any work
        check_metric_request(metrics, metric_options)
    elif metric_options:
        raise ConfigError("--metric-options without --metrics: name the metrics to compute, e.g. --metrics mig,dci")
    folder = open_run(run)
    shape = tuple(folder.meta.get("model_spec", {}).get("data_shape", ())) or None
    if metrics and folder.meta.get("model_spec", {}).get("latent_dim"):  # MIG of a 1-latent model: say so now
        check_metric_request(metrics, metric_options, int(folder.meta["model_spec"]["latent_dim"]))
    own = data is None or is_run_data(folder, data)
    if split is None:  # a file of new data is held out as a whole; the run's own data hold its training rows
        split = ALL if not own and not is_builtin(data) else "test"
    if data is not None and own:  # the run's own data, moved: its own file names
        folder_data, data = data, None
    else:
        folder_data = data
    source, data = data, _split_data(folder, split, folder_data, shape)
    if metrics and data.factors is None and list(metrics) != ["all"]:
        raise ConfigError(f"metrics {', '.join(metrics)} need ground-truth factors, and the data "
                          f"{data.name!r} have none (train on data with factors, e.g. dsprites)")
    model = load(folder, checkpoint, device)
    auto_k = iw_samples is None
    if auto_k:
        iw_samples = iw_samples_for_budget(model, data.x, AUTO_IW_SECONDS, max_rows=max_rows)
    t0 = time.perf_counter()
    lik = per_sample_likelihoods(model, data.x, iw_samples, max_rows=max_rows, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    moments = posterior_moments(model, data.x, max_rows)
    diag = summarize_latents(moments)
    sq = reconstruction_error(model, data.x, max_rows)
    summary = {**lik.summary(), "recon_sq_error": float(sq.mean()),
               "recon_sq_error_sem": float(sq.std(ddof=1) / np.sqrt(len(sq))) if len(sq) > 1 else 0.0}
    generative = build_objective(folder.config).objective.generative
    # as training says (workflow.latent_check): a collapse warns; some inactive latents are what a β-VAE is for,
    # so they are a note (the Quickstart's run warned "partial posterior collapse" here and not in `train`)
    if not generative:
        warnings, notes = [untrained_decoder_warning(folder.config.model.preset)], []
    elif diag.collapsed:
        warnings, notes = collapse_warnings(diag, folder.config, int(folder.meta.get("step", 0) or 0), data.x), []
    else:
        warnings, notes = [], list(diag.warnings)
    warnings += scale_warnings(lik.columns(), data.x, folder.meta.get("data", {}).get("value_range"))
    doc: dict[str, Any] = {"data": data.name, "source": folder_data or folder.config.data.source,
                           "split": split, "n_inputs": len(data),
                           "iw_samples": int(iw_samples), "seed": seed, "checkpoint": checkpoint,
                           "checkpoint_step": checkpoint_step(folder, checkpoint),
                           "iw_samples_choice": (f"chosen to fit a {AUTO_IW_SECONDS:.0f} s budget on this machine; "
                                                 "`shadowplay evaluate --iw-samples 1000` for the tighter bound"
                                                 if auto_k else "given"),
                           "data_dims": lik.data_dims, "likelihood": summary, "note": lik.note,
                           "generative": generative, "diagnostics": {**diag.as_dict(), "warnings": warnings, "notes": notes},
                           "seconds": round(seconds, 3),
                           "inputs_per_s": len(data) / max(seconds, 1e-9), "device": str(model.device)}
    if metrics:  # what was asked for, so a report at other weights can compute the same metrics again
        doc["metric_request"] = {"metrics": list(metrics), "metric_options": metric_options}
    dis = None
    if metrics and data.factors is None:
        doc["metrics_note"] = f"the data {data.name!r} have no ground-truth factors; disentanglement metrics skipped"
    elif metrics:
        dis = evaluate_disentanglement(model, moments.mean, data.factors.numpy(), source or folder.config.data.source,
                                       list(metrics), seed, data.factor_names, metric_options, progress)
        doc["metrics"] = dis.results
        doc["mi_matrix"] = {"nats": dis.mi_matrix, "factor_entropy": dis.factor_entropy,
                            "factor_names": list(dis.factor_names), "latents": "rows", "bins": 20}
        if dis.notes:
            doc["metrics_note"] = "; ".join(dis.notes)
    doc = json_safe(doc)
    worst = torch.as_tensor(np.argsort(-sq, kind="stable")[:8].copy())
    doc["worst_inputs"] = worst.tolist()
    files: list[Path] = []
    if write:
        where = folder.evaluation(split, source)
        pictures = {"input": data.x[worst], "reconstruction": model.reconstruct(data.x[worst]).cpu()}
        title = f"{folder.path.name}: I(z_j; v_k) / H(v_k), {split} split, {len(data):,} points"
        floor = mi_noise_floor(data.factors.numpy())[0] if dis is not None else 0.0
        if floor > NOISE_FLOOR_NOTE:  # too few points: say how high a code that ignores its input would score
            title += f"\nfew points: a code that ignores the input scores up to ~{min(floor, 1.0):.2f} here"
        files = _write_evaluation(where, doc, data, lik, sq, pictures, dis, title)
    return Evaluation(doc, lik, diag, sq, files)


def _write_evaluation(where: EvaluationFiles, doc: dict[str, Any], data: Any, lik: Any, sq: np.ndarray,
                      worst: dict[str, torch.Tensor], dis: Any, title: str) -> list[Path]:
    """Write what :func:`evaluate` computed to the files the run folder names for it; returns their paths."""
    where.folder.mkdir(exist_ok=True)
    cols = {"index": np.arange(len(data)), **lik.columns(), "recon_sq_error": sq}
    if data.labels is not None:
        cols["label"] = data.labels.numpy()
    table = np.zeros(len(data), dtype=[(k, np.int64 if k in ("index", "label") else np.float64) for k in cols])
    for k, v in cols.items():
        table[k] = v
    np.save(where.per_sample_npy, table)
    with open(where.per_sample_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(zip(*[v.tolist() if k in ("index", "label") else [f"{x:.6f}" for x in v]
                          for k, v in cols.items()]))
    save_examples(where.worst_reconstructions, worst)
    where.json.write_text(json.dumps(doc, indent=2))
    files = [where.json, where.per_sample_npy, where.per_sample_csv, where.worst_reconstructions]
    if dis is not None:
        files.append(save_mi_matrix(where.mi_matrix, dis.mi_matrix, dis.factor_entropy, dis.factor_names, title))
    else:  # an earlier evaluation's map is of other weights (or another request): not this evaluation's
        where.mi_matrix.unlink(missing_ok=True)
    return files


@dataclass(frozen=True)
class TraversalResult:
    """A traversal (``shadowplay.evaluation.LatentTraversal``) and the folder its pictures went to."""

    path: Path | None
    traversal: Any
    files: dict[str, Path]


def traverse(run: RunLike, dims: str | list[int] = "all", range_: float = 3.0, steps: int = 11,
             mode: str = "prior", inputs: list[int] | None = None, split: str = "test", checkpoint: str = "best",
             seed: int = 0, write: bool = True, data: str | None = None) -> TraversalResult:
    """Decode each chosen latent dimension (``all``, ``topN`` or indices; ordered by KL) over a range
    (``prior`` | ``posterior-quantile`` | ``fixed`` | ``minmax``, see ``shadowplay.evaluation.traversal``),
    starting from the prior mean or from the codes of ``inputs`` (indices into ``split``).

    Writes ``<run>/traversals/<mode>-<start>/``: ``dim-<d>.png``, ``overview.png``, ``traversal.gif``,
    ``traversal.json``. ``data``: other data, or the run's data where they are now (a built-in name or a path).
    """
    if mode not in RANGE_MODES:
        raise ConfigError(f"unknown --mode {mode!r}; choose one of {', '.join(RANGE_MODES)}")
    if steps < 2 or not range_ > 0:
        raise ConfigError(f"--steps must be >= 2 and --range > 0, got {steps} and {range_}")
    folder = open_run(run)
    ds = _split_data(folder, split, data)
    inputs = [_check_index(i, len(ds), split) for i in (inputs or [])]
    model = load(folder, checkpoint)
    moments = posterior_moments(model, ds.x)
    score = moments.kl.mean(0) if moments.kl is not None else moments.mean.var(0)
    order = np.argsort(-score, kind="stable")
    chosen = select_dims(dims, model.latent_dim, order)
    values = traversal_values(mode, model.latent_dim, steps, range_, moments.mean,
                              aggregate_draws(moments.mean, moments.var, seed=seed))
    base = moments.mean[inputs] if inputs else np.zeros((1, model.latent_dim))
    tr = traverse_codes(model, base, chosen, values, mode)
    files: dict[str, Path] = {}
    out = None
    if write:
        where = folder.traversal(mode, inputs)
        out = where.folder
        what = "KL" if moments.kl is not None else "var"
        labels = [f"z{d} {what} {score[d]:.2f}" for d in chosen]
        files = save_traversal(where, tr.images, chosen.tolist(), labels, np.asarray(tr.values),
                               [f"{split} input {i}" for i in inputs] if inputs else None)
        meta = {"mode": mode, "range": range_, "steps": steps, "dims": chosen, "values": tr.values,
                "start": "prior mean" if not inputs else f"{split} inputs {inputs}", "base_codes": tr.base,
                "kl_per_dim" if moments.kl is not None else "activity": score, "checkpoint": checkpoint,
                "checkpoint_step": checkpoint_step(folder, checkpoint)}
        where.json.write_text(json.dumps(json_safe(meta), indent=2))
        files["json"] = where.json
    return TraversalResult(out, tr, files)


@dataclass(frozen=True)
class InterpolationResult:
    """The decoded path (``shadowplay.evaluation.Interpolation``), its two inputs and the picture written."""

    path: Path | None
    interpolation: Any
    x_from: torch.Tensor
    x_to: torch.Tensor


def interpolate(run: RunLike, start: int, end: int, steps: int = 10, path: str = "slerp",
                split: str = "test", checkpoint: str = "best", out: str | Path | None = None,
                write: bool = True, data: str | None = None) -> InterpolationResult:
    """Decode ``steps`` codes between the posterior means of inputs ``start`` and ``end`` of ``split`` along a
    ``linear`` or ``slerp`` path; the picture (first input, path, second input) goes to ``out`` (default
    ``<run>/interpolations/<start>-<end>-<path>.png``). ``data``: other data, or the run's data where they are
    now."""
    if path not in PATHS:
        raise ConfigError(f"unknown --path {path!r}; choose one of {', '.join(PATHS)}")
    if steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {steps}")
    if write and out is not None:
        check_picture_path(out)
    folder = open_run(run)
    ds = _split_data(folder, split, data)
    i, j = _check_index(start, len(ds), split), _check_index(end, len(ds), split)
    model = load(folder, checkpoint)
    with torch.no_grad():
        codes = model.encode(ds.x[[i, j]]).mean
    result = interpolate_codes(model, codes[0], codes[1], steps, path)
    target = None
    if write:
        target = Path(out) if out is not None else folder.interpolation(i, j, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_interpolation(target, ds.x[i], result.images, ds.x[j],
                           [f"{split} {i}", *(f"t={t:.2f}" for t in result.t.tolist()), f"{split} {j}"])
    return InterpolationResult(target, result, ds.x[i], ds.x[j])


def report(run: RunLike, iw_samples: int | None = None, refresh: bool = False, checkpoint: str = "best",
           out: str | Path | None = None, progress: bool = True, data: str | None = None) -> Path:
    """Write ``<run>/report.html``: one offline HTML page (config, training curves, evaluation, KL per dimension,
    traversals, samples, reconstructions, worst reconstructions). Every part that shows the model shows the weights
    of ``checkpoint``, and the page says which: an evaluation or traversal on disk is reused only when it records
    the same weights (:func:`checkpoint_step`; e.g. a study's evaluation of ``last`` when ``best`` is another
    step), else :func:`evaluate` and :func:`traverse` run first (always with ``refresh``). The evaluation it replaces
    passes on its disentanglement metrics (names, options and seed, computed again with the report's weights; a
    warning says so when those were other weights). When the training-time ``samples.png`` /
    ``reconstructions.png`` show other weights, the report draws its own under ``report/`` and leaves them alone.
    The page itself is rendered from files only.
    ``iw_samples=None`` (the default) lets :func:`evaluate` choose K for a budget of ``AUTO_IW_SECONDS``, so a
    report on a fresh run takes about a minute; the page says which K was used. ``data``: where the run's data
    are now, when they moved (checked against the fingerprint recorded at training)."""
    folder = open_run(run)
    if data is not None and not is_run_data(folder, data):
        raise ConfigError(f"{data} is not the data this run was trained on (its SHA-256 differs, or it is not "
                          "there); a report describes the run's own data: use `shadowplay evaluate --data` for "
                          "other data")
    sizes = folder.meta.get("data", {}).get("sizes", {})
    split = next((s for s in ("test", "val", "train") if sizes.get(s, 1) > 0), "test")
    step = checkpoint_step(folder, checkpoint)
    earlier = _read_json(folder.evaluation(split).json)
    if refresh or earlier.get("checkpoint_step") != step:
        request = _metric_request(earlier)
        if request["metrics"] and earlier.get("checkpoint_step") != step:
            was = earlier.get("checkpoint")
            warnings.warn(f"{folder.evaluation(split).json.name} has {', '.join(request['metrics'])} of checkpoint "
                          f"{was} (step {earlier.get('checkpoint_step')}); the report shows checkpoint {checkpoint} "
                          f"(step {step}) and computes them again there (`shadowplay report {folder.path} "
                          f"--checkpoint {was}` reports those weights)", ShadowplayWarning,
                          stacklevel=user_stacklevel())
        evaluate(folder, split, iw_samples, checkpoint=checkpoint, progress=progress, data=data,
                 seed=int(earlier.get("seed", 0)), **request)
    if refresh or all(_recorded_step(t.json) != step for t in folder.traversals()):
        traverse(folder, split=split, checkpoint=checkpoint, data=data)
    drawn = [pair["step"] for pair in (drawn_pair(folder.meta, k) for k in PAIR_KEYS) if pair is not None]
    if folder.samples_path.is_file() and (refresh or step not in drawn):
        # the training-time pictures show other weights: draw the report's own under report/, never over them
        ds = _split_data(folder, split, data)  # a classifier-only run has no pictures: none are drawn for it
        write_pictures(folder, load(folder, checkpoint), ds.x, checkpoint, step, for_report=True)
    return write_report(folder, out, checkpoint=(checkpoint, step))


def _metric_request(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics`` and ``metric_options`` an evaluation was asked for (an evaluation written before they were
    recorded: the names of its results, default options); none for an evaluation without metrics."""
    request = doc.get("metric_request") or {"metrics": list(doc.get("metrics") or {}), "metric_options": None}
    return {"metrics": list(request.get("metrics") or []) or None, "metric_options": request.get("metric_options")}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _recorded_step(path: Path) -> int | None:
    """The ``checkpoint_step`` an evaluation or traversal JSON records (``None``: none, or no file)."""
    try:
        return json.loads(path.read_text()).get("checkpoint_step")
    except (OSError, ValueError):
        return None
