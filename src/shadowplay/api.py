"""The Python API. Every CLI command is a thin wrapper over one function here.

>>> import shadowplay as sp
>>> run = sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=30)   # doctest: +SKIP
>>> model = sp.load(run.path)                                                           # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch

from .config import RunConfig, load_config, set_keys
from .data import DataSplits, SourceOptions, load_data
from .errors import CheckpointError, ConfigError
from .model import LatentVariableModel, ModelSpec, build_model, resolve_likelihood
from .objectives import PresetParams, build_preset
from .objectives.presets import PresetResult
from .reports.images import save_examples
from .run import RunFolder, create_run_dir, default_name, open_run, update_run_json, write_run_files
from .training import Callback, Trainer, TrainResult, read_metrics, resolve_device, seed_everything


@dataclass(frozen=True)
class Run:
    """A trained run: its folder, resolved config and the outcome of the last ``fit``."""

    path: Path
    config: RunConfig
    result: TrainResult

    def load(self, which: str = "best") -> LatentVariableModel:
        return load(self.path, which)


# ------------------------------------------------------------------ building blocks
def load_splits(cfg: RunConfig) -> DataSplits:
    d = cfg.data
    opts = SourceOptions(data_dir=d.data_dir, n_samples=d.n_samples, image_size=d.image_size, color=d.color,
                         label_column=d.label_column, seed=cfg.trainer.seed)
    return load_data(d.source, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=cfg.trainer.seed,
                     options=opts)


def build_objective(cfg: RunConfig) -> PresetResult:
    """The preset's objective. Term networks (FactorVAE's discriminator) are initialized from ``trainer.seed`` in a
    forked RNG, so the same seed gives the same run and the global random stream is left as it was."""
    o = cfg.objective
    params = PresetParams(beta=o.beta, gamma=o.gamma, capacity_max=o.capacity_max, capacity_steps=o.capacity_steps,
                          warmup_steps=o.warmup_steps, extra=dict(o.extra), latent_dim=cfg.model.latent_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.trainer.seed + 7919)
        return build_preset(cfg.model.preset, params)


def model_spec(cfg: RunConfig, splits: DataSplits, posterior: str) -> ModelSpec:
    m = cfg.model
    return ModelSpec(data_shape=splits.train.shape, latent_dim=m.latent_dim, net=m.net, hidden=m.hidden,
                     channels=m.channels, posterior=posterior,
                     likelihood=resolve_likelihood(m.likelihood, splits.train.value_range), scale=m.scale)


def _config(config: str | Path | RunConfig | None, overrides: list[str] | dict[str, Any] | None,
            shortcuts: dict[str, Any]) -> RunConfig:
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    keys = {k: v for k, v in shortcuts.items() if v is not None}
    if keys:
        cfg = set_keys(cfg, keys)
    if overrides:
        cfg = load_config(None, None) if cfg is None else cfg
        from .config import parse_overrides
        cfg = set_keys(cfg, parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides))
    return cfg


def _trainer(cfg: RunConfig, path: Path, splits: DataSplits, built: PresetResult, spec: ModelSpec,
             callbacks: Iterable[Callback], progress: bool) -> Trainer:
    t = cfg.trainer
    device = resolve_device(t.device)
    seed_everything(t.seed, t.deterministic)
    model = build_model(spec)
    header = {"config": cfg.to_dict(), "model_spec": spec.to_dict(), "preset": cfg.model.preset}
    return Trainer(model, built.objective, splits.train.x, splits.val.x, replace(t, progress=progress and t.progress),
                   path, device, binarize=cfg.data.binarize, callbacks=callbacks, header=header)


def _finish(trainer: Trainer, cfg: RunConfig, splits: DataSplits) -> Run:
    result = trainer.fit()
    update_run_json(trainer.run_dir, status="finished" if result.finished else "stopped", step=result.step,
                    epoch=result.epoch, val_metrics=result.val_metrics)
    model = trainer.model.eval()
    with torch.no_grad():
        save_examples(trainer.run_dir / "samples.png", {"samples": model.sample(64, torch.Generator().manual_seed(0))})
        x = splits.test.x[:16] if len(splits.test) else splits.train.x[:16]
        save_examples(trainer.run_dir / "reconstructions.png", {"input": x, "reconstruction": model.reconstruct(x)})
    return Run(trainer.run_dir, cfg, result)


# ------------------------------------------------------------------ public functions
def train(config: str | Path | RunConfig | None = None, *, data: str | None = None, model: str | None = None,
          beta: float | None = None, latent_dim: int | None = None, epochs: int | None = None,
          net: str | None = None, data_dir: str | None = None, device: str | None = None, seed: int | None = None,
          overrides: list[str] | dict[str, Any] | None = None, runs_dir: str | Path = "runs",
          name: str | None = None, overwrite: bool = False, progress: bool = True,
          callbacks: Iterable[Callback] = ()) -> Run:
    """Train a model and write a run folder; returns the :class:`Run`.

    Keyword shortcuts set the matching config keys (``model`` → ``model.preset``, ``beta`` → ``objective.beta``);
    ``overrides`` are ``"section.key=value"`` strings or a dict, applied last. Everything is validated and the data
    are loaded before the run folder is created, so a bad input leaves nothing behind.
    """
    cfg = _config(config, overrides, {"data.source": data, "model.preset": model, "objective.beta": beta,
                                      "model.latent_dim": latent_dim, "trainer.epochs": epochs, "model.net": net,
                                      "data.data_dir": data_dir, "trainer.device": device, "trainer.seed": seed})
    built = build_objective(cfg)
    splits = load_splits(cfg)
    spec = model_spec(cfg, splits, built.posterior)
    build_model(spec)  # fail on an impossible architecture before touching the disk
    resolve_device(cfg.trainer.device)
    path = create_run_dir(runs_dir, name or default_name(cfg.model.preset, cfg.data.source), overwrite)
    data_info = {"source": cfg.data.source, "shape": list(splits.train.shape), "value_range":
                 splits.train.value_range, "sizes": {s: len(splits.get(s)) for s in ("train", "val", "test")},
                 "meta": splits.train.meta, "has_factors": splits.train.factors is not None,
                 "has_labels": splits.train.labels is not None}
    write_run_files(path, cfg, {"status": "running", "data": data_info, "model_spec": spec.to_dict(),
                                "preset": cfg.model.preset})
    return _finish(_trainer(cfg, path, splits, built, spec, callbacks, progress), cfg, splits)


def resume(run_dir: str | Path, overrides: list[str] | dict[str, Any] | None = None, progress: bool = True,
           callbacks: Iterable[Callback] = ()) -> Run:
    """Continue a run from its newest readable checkpoint, exactly where it stopped.

    ``overrides`` may extend the budget (``trainer.epochs=50``); keys that change the model or data are refused.
    """
    folder = open_run(run_dir)
    cfg = folder.config
    if overrides:
        from .config import parse_overrides
        items = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides)
        frozen = [k for k in items if not k.startswith("trainer.") or k in ("trainer.seed", "trainer.batch_size")]
        if frozen:
            raise ConfigError(f"resume can only change trainer settings that keep the run the same; "
                              f"{', '.join(frozen)} would change it. Start a new run with `shadowplay train`")
        cfg = set_keys(cfg, items)
    ckpt = folder.checkpoint("last")
    built = build_objective(cfg)
    splits = load_splits(cfg)
    spec = ModelSpec.from_dict(ckpt.state["model_spec"])
    trainer = _trainer(cfg, folder.path, splits, built, spec, callbacks, progress)
    trainer.restore(ckpt)
    if cfg != folder.config:
        (folder.path / "config.yaml").write_text(__import__("yaml").safe_dump(cfg.to_dict(), sort_keys=False))
    update_run_json(folder.path, status="running")
    return _finish(trainer, cfg, splits)


def load(path: str | Path, which: str = "best", device: str = "cpu") -> LatentVariableModel:
    """Rebuild a trained model from a run folder (or a checkpoint file) without unpickling anything.

    ``which`` is ``best`` (best validation ELBO), ``last``, or a checkpoint file name.
    """
    p = Path(path)
    ckpt = open_run(p).checkpoint(which) if p.is_dir() else __import__(
        "shadowplay.training.checkpoint", fromlist=["read_checkpoint"]).read_checkpoint(p)
    if "model_spec" not in ckpt.state:
        raise CheckpointError(f"{ckpt.path} has no model spec; it was not written by shadowplay's trainer")
    model = build_model(ModelSpec.from_dict(ckpt.state["model_spec"]))
    try:
        model.load_state_dict(ckpt.section("model"))
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt.path}: weights do not match the recorded architecture ({e})") from None
    return model.to(resolve_device(device)).eval()


def sample(run_dir: str | Path, n: int = 64, out: str | Path | None = None, seed: int = 0,
           which: str = "best") -> torch.Tensor:
    """``(n, *shape)`` decoder means of prior draws; written as a picture to ``out`` when given."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    x = load(run_dir, which).sample(n, torch.Generator().manual_seed(seed))
    if out is not None:
        save_examples(Path(out), {"samples": x})
    return x


def reconstruct(run_dir: str | Path, n: int = 16, split: str = "test", out: str | Path | None = None,
                which: str = "best") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` inputs of ``split`` and their reconstructions; a picture (inputs above) to ``out``."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    folder = open_run(run_dir)
    x = load_splits(folder.config).get(split).x[:n]
    x_hat = load(run_dir, which).reconstruct(x)
    if out is not None:
        save_examples(Path(out), {"input": x, "reconstruction": x_hat})
    return x, x_hat


@dataclass(frozen=True)
class RunInfo:
    path: Path
    config: dict[str, Any]
    meta: dict[str, Any]
    step: int
    epoch: int
    last_train: dict[str, Any]
    last_val: dict[str, Any]
    checkpoints: list[str]


def info(run_dir: str | Path) -> RunInfo:
    """Config, progress, last metrics and checkpoints of a run folder."""
    folder: RunFolder = open_run(run_dir)
    recs = read_metrics(folder.path)
    last = {s: next((r for r in reversed(recs) if r.get("split") == s), {}) for s in ("train", "val")}
    ckpts = [p.name for p in folder.checkpoints]
    if (folder.path / "checkpoints" / "best.safetensors").is_file():
        ckpts.append("best.safetensors")
    step = max((r.get("step", 0) for r in recs), default=0)
    epoch = max((r.get("epoch", 0) for r in recs), default=0)
    from .training.checkpoint import read_checkpoint
    for p in reversed(folder.checkpoints):  # the newest readable checkpoint is where `resume` continues from
        try:
            state = read_checkpoint(p, tensors=False).state
        except CheckpointError:
            continue
        step, epoch = state["step"], state["epoch"]
        break
    return RunInfo(folder.path, folder.config.to_dict(), folder.meta, step, epoch, last["train"], last["val"], ckpts)


def study(path: str | Path, jobs: int = 1, output: str | Path | None = None, progress: bool = True):
    """Run the grid of a study file (models × hyper-parameters × seeds), ``jobs`` child processes at a time, and
    aggregate every finished run's metrics into ``results.csv``/``summary.csv`` and plots; returns a
    ``shadowplay.study.StudyResult``. Started again after a kill, it skips finished runs and resumes the others.
    The file format is documented in ``shadowplay.study.spec``.
    """
    from .study import run_study
    return run_study(path, jobs=jobs, output=output, log=print if progress else (lambda msg: None))


# ------------------------------------------------------------------ evaluation, traversals, interpolation, report
def _split_data(folder: RunFolder, split: str, source: str | None = None, shape: tuple[int, ...] | None = None):
    """One split of the run's data (or of another ``source`` loaded with the run's data options)."""
    cfg = folder.config if source is None else set_keys(folder.config, {"data.source": source})
    data = load_splits(cfg).get(split)
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


def _json_safe(obj: Any) -> Any:
    """numpy → Python; non-finite floats → None (JSON has no NaN/Infinity)."""
    import math

    import numpy as np
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` computed: the JSON document, per-input likelihoods, latent diagnostics and the
    per-input reconstruction error ``(N,)``; ``files`` are the paths written (empty when ``write=False``)."""

    document: dict[str, Any]
    likelihoods: Any  # shadowplay.evaluation.SampleLikelihoods
    diagnostics: Any  # shadowplay.evaluation.LatentDiagnostics
    recon_sq_error: Any
    files: list[Path]


def evaluate(run_dir: str | Path, split: str = "test", iw_samples: int = 1000, metrics: list[str] | None = None,
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

    from .evaluation import per_sample_likelihoods, posterior_moments, reconstruction_error, summarize_latents
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
        from .evaluation.disentanglement import evaluate_disentanglement
        dis = evaluate_disentanglement(model, moments.mean, data.factors.numpy(), source or folder.config.data.source,
                                       list(metrics), seed, data.factor_names, metric_options)
        doc["metrics"] = dis.results
        doc["mi_matrix"] = {"nats": dis.mi_matrix, "factor_entropy": dis.factor_entropy,
                            "factor_names": list(dis.factor_names), "latents": "rows", "bins": 20}
        if dis.notes:
            doc["metrics_note"] = "; ".join(dis.notes)
    doc = _json_safe(doc)
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
            from .reports.disentanglement import save_mi_matrix
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

    from .evaluation import (RANGE_MODES, aggregate_draws, posterior_moments, select_dims, traversal_values)
    from .evaluation import traverse as traverse_codes
    from .reports.images import save_traversal
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
        (out / "traversal.json").write_text(json.dumps(_json_safe(meta), indent=2))
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
    from .evaluation import PATHS
    from .evaluation import interpolate as interpolate_codes
    from .reports.images import save_interpolation
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
    from .reports.html import write_report
    folder = open_run(run_dir)
    sizes = folder.meta.get("data", {}).get("sizes", {})
    split = next((s for s in ("test", "val", "train") if sizes.get(s, 1) > 0), "test")
    name = "evaluation.json" if split == "test" else f"evaluation-{split}.json"
    if refresh or not (folder.path / "evaluation" / name).is_file():
        evaluate(folder.path, split, iw_samples, which=which)
    if refresh or not any((folder.path / "traversals").glob("*/overview.png")):
        traverse(folder.path, split=split, which=which)
    return write_report(folder.path, out)
