"""Inspection API: evaluate, traverse, interpolate and report on a trained run.

Each function reads a run folder, computes with the pure functions of ``shadowplay.evaluation`` and writes files
into the run folder for the report to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import set_keys
from ..errors import ConfigError
from ..jsonsafe import json_safe
from ..reports.images import save_examples
from ..run import RunFolder, open_run
from .runs import load, load_splits

def _split_data(folder: RunFolder, split: str, source: str | None = None, shape: tuple[int, ...] | None = None):
    """One split of the run's data (or of another ``source`` loaded with the run's data options)."""
    cfg = folder.config if source is None else set_keys(folder.config, {"data.source": source})
    data = load_splits(cfg).get(split)
    trained_stats = folder.meta.get("data", {}).get("meta", {}).get("standardize")
    if source is not None and trained_stats is not None:  # score new CSV rows on the training scale
        from ..data.files import restandardize
        data = restandardize(data, trained_stats)
    if len(data) == 0:
        raise ConfigError(f"the {split} split of {cfg.data.source!r} is empty; choose another --split")
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise ConfigError(f"the data {cfg.data.source!r} have inputs of shape {tuple(data.shape)} but this model "
                          f"takes {tuple(shape)}; give data of that shape")
    return data


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


def evaluate(run_dir: str | Path, split: str = "test", iw_samples: int = 1000,
             metrics: str | list[str] | None = None,
             which: str = "best", seed: int = 0, max_rows: int = 4096, device: str = "auto",
             source: str | None = None, write: bool = True,
             metric_options: dict[str, dict[str, Any]] | None = None) -> Evaluation:
    """Per-input ELBO (reconstruction + KL), importance-weighted log p(x) with ``iw_samples`` draws, latent
    diagnostics and reconstruction errors on ``split``; written to ``<run>/evaluation/`` when ``write``.

    ``source`` evaluates another data source (a built-in name or a path, loaded with the run's data options),
    e.g. to score inputs unlike the training data. Files (``<s>`` is empty for the run's own test split,
    ``-<split>`` for its other splits, ``-<data>-<split>`` for other data): ``evaluation<s>.json``,
    ``per_sample<s>.npy`` (a structured array) and ``.csv``, ``worst_reconstructions<s>.png``.
    ``metrics`` names disentanglement metrics (``shadowplay.metrics.compute_metrics``) computed on the posterior
    means when the data have ground-truth factors; ``"all"`` means every metric the data allow (none, with a note,
    when they have no factors), the sampling metrics (``beta_vae``, ``factor_vae``) draw from the source's
    ground-truth generator, ``metric_options`` passes per-metric keyword arguments, and the latent × factor
    mutual-information matrix is saved as ``mi_matrix<s>.png``.
    """
    import csv
    import json
    import time

    import numpy as np

    from ..evaluation import per_sample_likelihoods, posterior_moments, reconstruction_error, summarize_latents
    if isinstance(metrics, str):  # "all" or "mig,dci" as on the command line
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if int(iw_samples) != iw_samples or iw_samples < 1:
        raise ConfigError(f"--iw-samples must be an integer >= 1, got {iw_samples}")
    folder = open_run(run_dir)
    shape = tuple(folder.meta.get("model_spec", {}).get("data_shape", ())) or None
    data = _split_data(folder, split, source, shape)
    if metrics and data.factors is None and list(metrics) != ["all"]:
        raise ConfigError(f"metrics {', '.join(metrics)} need ground-truth factors, and the data "
                          f"{data.name!r} have none (train on data with factors, e.g. dsprites)")
    model = load(folder.path, which, device)
    t0 = time.perf_counter()
    lik = per_sample_likelihoods(model, data.x, iw_samples, max_rows=max_rows, seed=seed)
    seconds = time.perf_counter() - t0
    moments = posterior_moments(model, data.x, max_rows)
    diag = summarize_latents(moments)
    sq = reconstruction_error(model, data.x, max_rows)
    summary = {**lik.summary(), "recon_sq_error": float(sq.mean()),
               "recon_sq_error_sem": float(sq.std(ddof=1) / np.sqrt(len(sq))) if len(sq) > 1 else 0.0}
    doc: dict[str, Any] = {"data": data.name, "split": split, "n_inputs": len(data),
                           "iw_samples": int(iw_samples), "seed": seed, "checkpoint": which,
                           "data_dims": lik.data_dims, "likelihood": summary, "note": lik.note,
                           "diagnostics": diag.as_dict(), "seconds": round(seconds, 3),
                           "inputs_per_s": len(data) / max(seconds, 1e-9), "device": str(model.device)}
    dis = None
    if metrics and data.factors is None:
        doc["metrics_note"] = f"the data {data.name!r} have no ground-truth factors; disentanglement metrics skipped"
    elif metrics:
        from ..evaluation.disentanglement import evaluate_disentanglement
        dis = evaluate_disentanglement(model, moments.mean, data.factors.numpy(), source or folder.config.data.source,
                                       list(metrics), seed, data.factor_names, metric_options)
        doc["metrics"] = dis.results
        doc["mi_matrix"] = {"nats": dis.mi_matrix, "factor_entropy": dis.factor_entropy,
                            "factor_names": list(dis.factor_names), "latents": "rows", "bins": 20}
        if dis.notes:
            doc["metrics_note"] = "; ".join(dis.notes)
    doc = json_safe(doc)
    files: list[Path] = []
    if write:
        out, s = folder.path / "evaluation", "" if split == "test" else f"-{split}"
        if source is not None:
            s = f"-{Path(source).stem}-{split}"
        out.mkdir(exist_ok=True)
        cols = {"index": np.arange(len(data)), **lik.columns(), "recon_sq_error": sq}
        if data.labels is not None:
            cols["label"] = data.labels.numpy()
        table = np.zeros(len(data), dtype=[(k, np.int64 if k in ("index", "label") else np.float64) for k in cols])
        for k, v in cols.items():
            table[k] = v
        np.save(out / f"per_sample{s}.npy", table)
        with open(out / f"per_sample{s}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            w.writerows(zip(*[v.tolist() if k in ("index", "label") else [f"{x:.6f}" for x in v]
                              for k, v in cols.items()]))
        worst = torch.as_tensor(np.argsort(-sq, kind="stable")[:8].copy())
        save_examples(out / f"worst_reconstructions{s}.png", {"input": data.x[worst],
                                                             "reconstruction": model.reconstruct(data.x[worst]).cpu()})
        doc["worst_inputs"] = worst.tolist()
        (out / f"evaluation{s}.json").write_text(json.dumps(doc, indent=2))
        files = [out / f"evaluation{s}.json", out / f"per_sample{s}.npy", out / f"per_sample{s}.csv",
                 out / f"worst_reconstructions{s}.png"]
        if dis is not None:
            from ..reports.disentanglement import save_mi_matrix
            files.append(save_mi_matrix(out / f"mi_matrix{s}.png", dis.mi_matrix, dis.factor_entropy,
                                        dis.factor_names, f"{folder.path.name}: I(z_j; v_k) / H(v_k), {split} split"))
    return Evaluation(doc, lik, diag, sq, files)


@dataclass(frozen=True)
class TraversalResult:
    """A traversal (``shadowplay.evaluation.LatentTraversal``) and the folder its pictures went to."""

    path: Path | None
    traversal: Any
    files: dict[str, Path]


def traverse(run_dir: str | Path, dims: str | list[int] = "all", range_: float = 3.0, steps: int = 11,
             mode: str = "prior", inputs: list[int] | None = None, split: str = "test", which: str = "best",
             seed: int = 0, write: bool = True) -> TraversalResult:
    """Decode each chosen latent dimension (``all``, ``topN`` or indices; ordered by KL) over a range
    (``prior`` | ``posterior-quantile`` | ``fixed`` | ``minmax``, see ``shadowplay.evaluation.traversal``),
    starting from the prior mean or from the codes of ``inputs`` (indices into ``split``).

    Writes ``<run>/traversals/<mode>-<start>/``: ``dim-<d>.png``, ``overview.png``, ``traversal.gif``,
    ``traversal.json``.
    """
    import json

    import numpy as np

    from ..evaluation import (RANGE_MODES, aggregate_draws, posterior_moments, select_dims, traversal_values)
    from ..evaluation import traverse as traverse_codes
    from ..reports.images import save_traversal
    if mode not in RANGE_MODES:
        raise ConfigError(f"unknown --mode {mode!r}; choose one of {', '.join(RANGE_MODES)}")
    if steps < 2 or not range_ > 0:
        raise ConfigError(f"--steps must be >= 2 and --range > 0, got {steps} and {range_}")
    folder = open_run(run_dir)
    data = _split_data(folder, split)
    inputs = [_check_index(i, len(data), split) for i in (inputs or [])]
    model = load(folder.path, which)
    moments = posterior_moments(model, data.x)
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
        start = "prior-mean" if not inputs else "input-" + "-".join(map(str, inputs))
        out = folder.path / "traversals" / f"{mode}-{start}"
        what = "KL" if moments.kl is not None else "var"
        labels = [f"z{d} {what} {score[d]:.2f}" for d in chosen]
        files = save_traversal(out, tr.images, chosen.tolist(), labels)
        meta = {"mode": mode, "range": range_, "steps": steps, "dims": chosen, "values": tr.values,
                "start": "prior mean" if not inputs else f"{split} inputs {inputs}", "base_codes": tr.base,
                "kl_per_dim" if moments.kl is not None else "activity": score, "checkpoint": which}
        (out / "traversal.json").write_text(json.dumps(json_safe(meta), indent=2))
        files["json"] = out / "traversal.json"
    return TraversalResult(out, tr, files)


@dataclass(frozen=True)
class InterpolationResult:
    """The decoded path (``shadowplay.evaluation.Interpolation``), its two inputs and the picture written."""

    path: Path | None
    interpolation: Any
    x_from: torch.Tensor
    x_to: torch.Tensor


def interpolate(run_dir: str | Path, start: int, end: int, steps: int = 10, path: str = "slerp",
                split: str = "test", which: str = "best", out: str | Path | None = None,
                write: bool = True) -> InterpolationResult:
    """Decode ``steps`` codes between the posterior means of inputs ``start`` and ``end`` of ``split`` along a
    ``linear`` or ``slerp`` path; the picture (first input, path, second input) goes to ``out`` (default
    ``<run>/interpolations/<start>-<end>-<path>.png``)."""
    from ..evaluation import PATHS
    from ..evaluation import interpolate as interpolate_codes
    from ..reports.images import save_interpolation
    if path not in PATHS:
        raise ConfigError(f"unknown --path {path!r}; choose linear or slerp")
    if steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {steps}")
    folder = open_run(run_dir)
    data = _split_data(folder, split)
    i, j = _check_index(start, len(data), split), _check_index(end, len(data), split)
    model = load(folder.path, which)
    with torch.no_grad():
        codes = model.encode(data.x[[i, j]]).mean
    result = interpolate_codes(model, codes[0], codes[1], steps, path)
    target = None
    if write:
        target = Path(out) if out is not None else folder.path / "interpolations" / f"{i}-{j}-{path}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        save_interpolation(target, data.x[i], result.images, data.x[j])
    return InterpolationResult(target, result, data.x[i], data.x[j])


def report(run_dir: str | Path, iw_samples: int = 1000, refresh: bool = False, which: str = "best",
           out: str | Path | None = None) -> Path:
    """Write ``<run>/report.html``: one offline HTML page (config, training curves, evaluation, KL per dimension,
    traversals, samples, reconstructions, worst reconstructions). Runs :func:`evaluate` and :func:`traverse`
    first when their files are missing (or when ``refresh``); the page itself is rendered from files only."""
    from ..reports.html import write_report
    folder = open_run(run_dir)
    sizes = folder.meta.get("data", {}).get("sizes", {})
    split = next((s for s in ("test", "val", "train") if sizes.get(s, 1) > 0), "test")
    name = "evaluation.json" if split == "test" else f"evaluation-{split}.json"
    if refresh or not (folder.path / "evaluation" / name).is_file():
        evaluate(folder.path, split, iw_samples, which=which)
    if refresh or not any((folder.path / "traversals").glob("*/overview.png")):
        traverse(folder.path, split=split, which=which)
    return write_report(folder.path, out)
