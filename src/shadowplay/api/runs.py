"""Training-side API: train, resume, load, sample, reconstruct, info, presets, study.

>>> import shadowplay as sp
>>> run = sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=30)   # doctest: +SKIP
>>> model = sp.load(run)                                                                # doctest: +SKIP

Each function is what one CLI command calls, with the command's option names as keywords (``--batch-size`` is
``batch_size=``). Defaults live here (or, for config keys, in ``shadowplay.config``) and nowhere else: the CLI
passes only the options a user typed. Every function that takes a run folder (``run``) also takes the ``Run`` that
:func:`train` returns. The work itself is done by :mod:`shadowplay.workflow`, which applications below the API
(outliers, debias, sklearn, explorer) call directly.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from .. import debias
from ..config import RunConfig, load_config, parse_overrides, set_keys
from ..data import Dataset
from ..errors import CheckpointError, CheckpointFallbackWarning, ConfigError, ShadowplayWarning, user_stacklevel
from ..model import LatentVariableModel, check_value_range
from ..objectives import PRESETS
from ..reports.images import check_examples, check_grid, check_picture_path, save_examples
from ..run import RunFolder, default_name, open_run
from ..run.folder import check_new_run
from ..run.pictures import pair_of, record_redrawn
from ..study import StudyResult, run_study
from ..training import Callback, resolve_device
from ..training.distributed import check_world, launch_run
from ..training.precision import check_precision
from ..workflow import Run, load_model, resume_run, run_on_disk, run_splits

RunLike = str | Path | Run

# train's keywords that set a config key; the name of each keyword is the CLI flag (`--batch-size` → batch_size)
TRAIN_KEYS = {"data": "data.source", "data_dir": "data.data_dir", "model": "model.preset",
              "latent_dim": "model.latent_dim", "net": "model.net", "likelihood": "model.likelihood",
              "beta": "objective.beta", "capacity_weight": "objective.capacity_weight",
              "tc_weight": "objective.tc_weight", "dimwise_kl_weight": "objective.dimwise_kl_weight",
              "epochs": "trainer.epochs", "batch_size": "trainer.batch_size", "lr": "trainer.lr",
              "seed": "trainer.seed", "device": "trainer.device", "deterministic": "trainer.deterministic",
              "precision": "trainer.precision", "compile": "trainer.compile"}


def _overrides(overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    if not overrides:
        return {}
    return parse_overrides(overrides) if isinstance(overrides, (list, tuple)) else dict(overrides)


def train(config: str | Path | RunConfig | None = None, *, data: str | None = None, data_dir: str | None = None,
          model: str | None = None, latent_dim: int | None = None, net: str | None = None,
          likelihood: str | None = None, beta: float | None = None, capacity_weight: float | None = None,
          tc_weight: float | None = None, dimwise_kl_weight: float | None = None, epochs: int | None = None,
          batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
          device: str | None = None, deterministic: bool | None = None, precision: str | None = None,
          compile: bool | None = None, overrides: list[str] | dict[str, Any] | None = None,
          runs_dir: str | Path = "runs", name: str | None = None, overwrite: bool = False, progress: bool = True,
          callbacks: Iterable[Callback] = (), nproc: int = 1) -> Run:
    """Train a model and write a run folder; returns the :class:`Run`.

    ``config`` is a YAML file (or a ``RunConfig``). Each keyword that is not ``None`` sets one config key
    (:data:`TRAIN_KEYS`: ``model`` → ``model.preset``, ``batch_size`` → ``trainer.batch_size``, …; a keyword left
    at ``None`` keeps the config's value, whose default is in ``shadowplay.config``); ``overrides`` are
    ``"section.key=value"`` strings or a dict, applied last. Everything is validated and the data are loaded
    before the run folder is created, so a bad input leaves nothing behind.

    ``precision`` (``fp32``, ``bf16``, ``fp16`` on GPU) and ``compile`` speed up the nets
    (``shadowplay.training.precision``); ``nproc`` > 1 trains one model on that many local processes with DDP
    through torchrun (``shadowplay.training.distributed``). Under ``torchrun`` itself each rank just calls this.
    """
    given = {"data": data, "data_dir": data_dir, "model": model, "latent_dim": latent_dim, "net": net,
             "likelihood": likelihood, "beta": beta, "capacity_weight": capacity_weight, "tc_weight": tc_weight,
             "dimwise_kl_weight": dimwise_kl_weight, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "seed": seed, "device": device, "deterministic": deterministic, "precision": precision,
             "compile": compile}
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    keys = {TRAIN_KEYS[k]: v for k, v in given.items() if v is not None}
    if keys:
        cfg = set_keys(cfg, keys)
    extra = _overrides(overrides)
    if extra:
        cfg = set_keys(cfg, extra)
    _check_nproc(nproc)
    if nproc > 1:  # every rank loads and checks the data before rank 0 creates the folder
        check_precision(cfg.trainer.precision, resolve_device(cfg.trainer.device))
        check_world(nproc, cfg.trainer.batch_size)  # before any process starts (the ranks check the data size)
        name = name or default_name(cfg.model.preset, cfg.data.source)
        check_new_run(runs_dir, name, overwrite)  # else every rank fails on it, under torchrun's report
        path = launch_run("train", cfg, nproc, runs_dir=runs_dir, overwrite=overwrite, progress=progress, name=name)
        return run_on_disk(path, cfg)
    if cfg.model.preset == "dbvae" and cfg.debias.resample == "none":
        warnings.warn("model dbvae with debias.resample=none learns the latent structure but never resamples the "
                      "training data, so nothing is debiased; `shadowplay debias train` resamples by default "
                      "(or add debias.resample=latent)", ShadowplayWarning, stacklevel=user_stacklevel())
    # a run that resamples (DB-VAE) writes debias/weights.* as `debias train` and `resume` do (a launch with
    # nproc > 1 ends up here on each rank)
    return debias.train_writing_weights(cfg, runs_dir=runs_dir, name=name, overwrite=overwrite, progress=progress,
                                        callbacks=callbacks)


def _check_nproc(nproc: Any) -> None:
    """``nproc`` counts processes: 0 or -1 used to train on one process without a word."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer (processes), got {nproc!r}")


def resume(run: RunLike, overrides: list[str] | dict[str, Any] | None = None, *, data: str | None = None,
           progress: bool = True, callbacks: Iterable[Callback] = (), nproc: int = 1) -> Run:
    """Continue a run from its newest readable checkpoint, exactly where it stopped. ``data``: where the run's
    data are now, when they moved (a built-in name or a path). ``nproc`` > 1: continue under DDP (see ``train``).

    ``overrides`` may extend the budget (``trainer.epochs=50``); keys that change the model or data are refused.
    A DB-VAE run (``debias.resample`` not ``none``) rewrites ``debias/weights.png`` and ``weights.json`` from the
    weights its last epoch was drawn with (``sp.debias.write_weights``).
    """
    _check_nproc(nproc)
    folder = open_run(run)
    cfg = folder.config
    items = _overrides(overrides)
    if items:
        # the seed fixes the data order and the batch size the step count per epoch: changing either is a new run
        frozen = [k for k in items if not k.startswith("trainer.") or k in ("trainer.seed", "trainer.batch_size")]
        if frozen:
            raise ConfigError(f"resume can only change trainer settings that keep the run the same; "
                              f"{', '.join(frozen)} would change it. Start a new run with `shadowplay train`")
        cfg = set_keys(cfg, items)
    with warnings.catch_warnings():  # a fallback is reported once, by resume_run below
        warnings.simplefilter("ignore", CheckpointFallbackWarning)
        state = folder.newest_checkpoint(tensors=False).state
    t = cfg.trainer
    if state["epoch"] >= t.epochs:
        # twice the larger of the budget and the epoch reached: a budget lowered by an override (trainer.epochs=3 on
        # a run at epoch 8) made 2 × budget a number the run had already passed
        raise ConfigError(f"{folder.path} is finished (epoch {state['epoch']} of {t.epochs}, step "
                          f"{state['step']}): nothing to resume. To train longer, raise the budget: "
                          f"shadowplay resume {folder.path} trainer.epochs={2 * max(t.epochs, state['epoch'])}")
    if t.max_steps is not None and state["step"] >= t.max_steps:
        raise ConfigError(f"{folder.path} stopped at trainer.max_steps={t.max_steps} (step {state['step']}, epoch "
                          f"{state['epoch']} of {t.epochs}): nothing to resume. To train on, lift or raise the "
                          f"limit: shadowplay resume {folder.path} trainer.max_steps=none")
    if nproc > 1:  # DDP on nproc local processes (see train)
        if data is not None:
            raise ConfigError("resume --nproc reads the run's data where run.json says they are; move them back "
                              "or resume once on one process with --data first")
        check_world(nproc, t.batch_size)  # before any process starts, as in train
        check_precision(t.precision, resolve_device(t.device))
        return run_on_disk(launch_run("resume", cfg, nproc, run=folder.path, progress=progress, overrides=items), cfg)
    # a run that resamples (DB-VAE) rewrites debias/weights.* from its final weights, as `debias train` writes them;
    # under torchrun rank 0 alone writes (a launch with nproc > 1 ends up here on each rank)
    weights = cfg.debias.resample != "none" and os.environ.get("RANK", "0") == "0"
    splits = run_splits(folder, data) if weights else None  # loaded once, for the training and the files
    run = resume_run(folder, cfg, splits=splits, progress=progress, callbacks=callbacks, data=data)
    if weights:
        debias.write_weights(run, splits.train)
    return run


def load(run: RunLike, checkpoint: str = "best", device: str = "cpu") -> LatentVariableModel:
    """Rebuild a trained model from a run folder (or a ``Run``, or a checkpoint file) without unpickling anything.

    ``checkpoint`` is ``best`` (best validation ELBO), ``last``, or a checkpoint file name.
    """
    return load_model(run, checkpoint, device)


def checkpoint_step(folder: RunFolder, checkpoint: str) -> int | None:
    """The training step of the weights ``checkpoint`` names (``best`` and ``last`` may be the same weights):
    what ``evaluate``, ``traverse`` and the training pictures record, so a report can tell whether they show the
    weights it draws with. Read from the header only; ``load`` warns about a fallback, not this."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointFallbackWarning)
        step = folder.checkpoint(checkpoint, tensors=False).state.get("step")
    return int(step) if isinstance(step, int) else None


def sample(run: RunLike, n: int = 64, out: str | Path | None = None, seed: int = 0, checkpoint: str = "best",
           write: bool = True) -> torch.Tensor:
    """``(n, *shape)`` decoder means of prior draws; when ``write``, also written to ``out`` (default
    ``<run>/samples.png``): a picture (``.png``, ``.jpg``, ...: ``reports.images.PICTURE_SUFFIXES``), or the array
    itself when ``out`` ends in ``.npy`` (for more samples than a picture can hold). A file type it cannot write,
    or a picture Pillow would refuse to open again, is refused before anything is drawn."""
    if n < 1:
        raise ConfigError(f"-n must be >= 1, got {n}")
    target = (Path(out) if out is not None else RunFolder(run).samples_path) if write else None
    if target is not None:
        check_picture_path(target, also=(".npy",), given=out is not None)
    as_array = target is not None and target.suffix.lower() == ".npy"
    model = load(run, checkpoint)
    shape = tuple(model.data_shape)
    if target is not None and not as_array and len(shape) == 3 and shape[0] in (1, 3):
        check_grid(n, shape[1], shape[2])  # before drawing: 100,000 samples make a PNG Pillow will not open
    x = model.sample(n, torch.Generator().manual_seed(seed))
    if as_array:
        np.save(target, x.cpu().numpy())
    elif target is not None:
        save_examples(target, {"samples": x})
        _record_run_picture(run, target, checkpoint, "shadowplay sample")
    return x


def _record_run_picture(run: RunLike, target: Path, checkpoint: str, by: str) -> None:
    """When ``target`` was one of the run folder's recorded pictures, say in ``run.json`` that ``by`` redrew it with
    ``checkpoint`` (``run.pictures.record_redrawn``), so no record names the weights it no longer shows."""
    folder = RunFolder(run)
    key = pair_of(folder, target)
    if key is not None:
        record_redrawn(folder, key, target, checkpoint, checkpoint_step(folder, checkpoint), by)


def check_model_data(folder: RunFolder, ds: Dataset, source: str | None = None) -> Dataset:
    """``ds`` if the run's model can score it: a model with a Bernoulli likelihood refuses data outside [0, 1]
    (``model.check_value_range``, the check training makes), which would give it impossible likelihoods."""
    check_value_range(folder.meta.get("model_spec", {}).get("likelihood", ""), ds.value_range,
                      what=f"the data {source or folder.config.data.source!r}",
                      fix="This run's model has one (it was trained on data in [0, 1]): scale these data the same "
                          "way, or use a run trained with --likelihood gaussian")
    return ds


def reconstruct(run: RunLike, n: int = 16, split: str = "test", out: str | Path | None = None,
                checkpoint: str = "best", write: bool = True, data: str | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` inputs of ``split`` and their reconstructions; when ``write``, a picture at ``out``
    (default ``<run>/reconstructions.png``; a ``PICTURE_SUFFIXES`` type): up to 16 inputs in one row above their
    reconstructions, more as rows of pairs in a roughly square grid. ``data``: other data, or the run's data
    where they are now (a built-in name or a path, loaded with the run's data options)."""
    if n < 1:
        raise ConfigError(f"-n must be >= 1, got {n}")
    target = (Path(out) if out is not None else RunFolder(run).reconstructions_path) if write else None
    if target is not None:
        check_picture_path(target, given=out is not None)
    folder = open_run(run)
    x = check_model_data(folder, run_splits(folder, data).get(split), data).x[:n]
    if target is not None and x.ndim == 4 and x.shape[1] in (1, 3):
        # before the model runs: a picture Pillow will open
        check_examples(len(x), ("input", "reconstruction"), x.shape[2], x.shape[3])
    x_hat = load(folder, checkpoint).reconstruct(x)
    if target is not None:
        save_examples(target, {"input": x, "reconstruction": x_hat})
        _record_run_picture(folder, target, checkpoint, "shadowplay reconstruct")
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
    status: str = "unknown"  # running | finished | stopped | interrupted | failed (RunFolder.status)


def info(run: RunLike) -> RunInfo:
    """Config, progress, last metrics and checkpoints of a run folder."""
    folder = open_run(run)
    recs = folder.read_metrics()
    last = {s: next((r for r in reversed(recs) if r.get("split") == s), {}) for s in ("train", "val")}
    ckpts = [p.name for p in folder.checkpoints]
    if folder.best_path.is_file():
        ckpts.append(folder.best_path.name)
    step = max((r.get("step", 0) for r in recs), default=0)
    epoch = max((r.get("epoch", 0) for r in recs), default=0)
    try:  # the newest readable checkpoint is where `resume` continues from
        state = folder.newest_checkpoint(tensors=False).state
        step, epoch = state["step"], state["epoch"]
    except CheckpointError:  # none saved yet: the metrics log is all there is
        pass
    return RunInfo(folder.path, folder.config.to_dict(), folder.meta, step, epoch, last["train"], last["val"], ckpts,
                   folder.status)


def presets() -> dict[str, str]:
    """Every model preset (``--model``) with the first line of its description."""
    out = {}
    for name in sorted(PRESETS):
        doc = (PRESETS[name].__doc__ or "").strip().splitlines()
        out[name] = doc[0] if doc else ""
    return out


def study(study: str | Path, jobs: int = 1, output: str | Path | None = None, progress: bool = True,
          launcher: str = "local", address: str | None = None) -> StudyResult:
    """Run the grid of a study file (models × hyper-parameters × seeds), ``jobs`` child processes at a time, and
    aggregate every finished run's metrics into ``results.csv``/``summary.csv`` and plots; returns a
    :class:`shadowplay.study.StudyResult`. Started again after a kill, it skips finished runs and resumes the others.
    The file format is documented in ``shadowplay.study.spec``. ``launcher="ray"`` runs each run step as a Ray task
    (``shadowplay.study.ray_launcher``), on a private local instance or on the cluster at ``address``.
    """
    return run_study(study, jobs=jobs, output=output, log=print if progress else (lambda msg: None),
                     launcher=launcher, address=address)
