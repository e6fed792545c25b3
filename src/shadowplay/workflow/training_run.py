"""Training a run end to end from a config (and, optionally, data already in memory), and resuming one.

``shadowplay.api.train`` turns keywords into a config and calls :func:`train_run`; applications that hold their own
arrays (the outlier detector, the scikit-learn estimators, DB-VAE) call it directly with ``splits=``.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch

from ..config import RunConfig, resolve_epochs, set_keys
from ..data import DataSplits
from ..errors import user_stacklevel
from ..model import LatentVariableModel, ModelSpec, build_model
from ..objectives.presets import PresetResult
from ..reports.images import save_examples
from ..run import RunFolder, create_run, default_name, open_run, start_meta
from ..training import Callback, Resampling, Trainer, TrainResult, resolve_device, seed_everything
from ..training.distributed import Dist, check_world, from_env, ignore_sigterm
from ..training.precision import check_precision
from .build import build_objective, head_size, load_model, load_splits, model_spec
from .data_place import data_fingerprint, resolve_source, run_splits
from .latents import PosteriorCollapseWarning, latent_check


@dataclass(frozen=True)
class Run:
    """A trained run: its folder, resolved config and the outcome of the last ``fit``. Every function that takes a
    run folder also takes a ``Run``."""

    path: Path
    config: RunConfig
    result: TrainResult
    warnings: tuple[str, ...] = ()  # posterior collapse found at the end of training, with what to try
    latents: dict[str, Any] | None = None  # n_active, latent_dim, kl_total, collapsed (also in run.json)

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    def load(self, checkpoint: str = "best", device: str = "cpu") -> LatentVariableModel:
        return load_model(self.path, checkpoint, device)


def _trainer(cfg: RunConfig, folder: RunFolder, splits: DataSplits, built: PresetResult, spec: ModelSpec,
             callbacks: Iterable[Callback], progress: bool, dist: Dist | None = None) -> Trainer:
    t, b = cfg.trainer, cfg.debias
    dist = dist or Dist()
    device = dist.place(resolve_device(t.device))  # under DDP on CUDA: this rank's own GPU
    # seed before the model is built: its initial weights come from the global stream, so the seed fixes them
    seed_everything(t.seed, t.deterministic)
    dist.seed(t.seed)  # under DDP each rank > 0 gets its own noise stream (DDP broadcasts rank 0's weights)
    model = build_model(spec)
    # saved in every checkpoint: the model spec alone rebuilds the architecture, the config documents the run
    header = {"config": cfg.to_dict(), "model_spec": spec.to_dict(), "preset": cfg.model.preset}
    if b.resample != "none":  # DB-VAE: built from the config, so that resume rebuilds it too
        callbacks = [*callbacks, Resampling(b.debias_class, b.resample, b.bins, b.alpha, b.combine,
                                            splits.train.groups)]
    # a progress bar only when both the caller (progress=False: --no-progress, studies) and the config allow it
    return Trainer(model, built.objective, splits.train.x, splits.val.x, replace(t, progress=progress and t.progress),
                   folder.path, device, binarize=cfg.data.binarize, callbacks=callbacks, header=header,
                   train_labels=splits.train.labels, val_labels=splits.val.labels, dist=dist)


def _fit(trainer: Trainer, fresh: bool) -> TrainResult:
    """``trainer.fit()``; when it ends by an error or Ctrl-C, ``run.json`` says so (``failed``/``interrupted``), and
    a fresh run that has not saved a single checkpoint is removed, so its name is free for the next try."""
    folder = RunFolder(trainer.run_dir)
    try:
        return _fit_rank(trainer)
    except BaseException as e:
        ignore_sigterm()  # under DDP: torchrun's SIGTERM must not cut the clean-up below
        if fresh and not folder.checkpoints:
            shutil.rmtree(folder.path, ignore_errors=True)
        else:
            status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            folder.update_meta(status=status, error=f"{type(e).__name__}: {e}"[:500], step=trainer.step,
                               epoch=trainer.epoch)
        raise


def _fit_rank(trainer: Trainer) -> TrainResult:
    """``trainer.fit()``; under DDP a collective broken by another rank's death is a DistributedError (the user's
    one-line error), not a RuntimeError reported as a bug in shadowplay."""
    try:
        return trainer.fit()
    except RuntimeError as e:
        lost = trainer.dist.lost_peer(e)
        if lost is None:
            raise
        raise lost from e


def _warn_collapse(found: Iterable[str]) -> None:
    """Each posterior-collapse finding of the latent check as a warning, attributed to the user's line that started
    the training (``api.train``, ``api.resume``, an estimator's ``fit``), not to a line of shadowplay: the depth
    differs between those callers, so a fixed ``stacklevel`` pointed into this file or ``api/runs.py``."""
    for w in found:
        warnings.warn(w, PosteriorCollapseWarning, stacklevel=user_stacklevel())


def write_pictures(folder: RunFolder, model: LatentVariableModel, x: torch.Tensor, checkpoint: str,
                   step: int | None, for_report: bool = False) -> None:
    """``samples.png`` (64 prior draws) and ``reconstructions.png`` (the first 16 rows of ``x``) of ``model``, and
    which checkpoint drew them (``run.json`` ``pictures``: ``checkpoint``, ``step``), so a report shows them only
    with the evaluation and traversals of the same weights. ``for_report``: a report's own pair under ``report/``
    (recorded as ``report_pictures``), so the training-time pictures are never replaced by those of other weights."""
    samples, recons = ((folder.report_samples_path, folder.report_reconstructions_path) if for_report
                       else (folder.samples_path, folder.reconstructions_path))
    samples.parent.mkdir(exist_ok=True)
    with torch.no_grad():
        # a fixed generator, so the pictures of two runs show the same prior draws and can be compared side by side
        save_examples(samples, {"samples": model.sample(64, torch.Generator().manual_seed(0))})
        x = x[:16]
        save_examples(recons, {"input": x, "reconstruction": model.reconstruct(x)})
    folder.update_meta(**{"report_pictures" if for_report else "pictures": {"checkpoint": checkpoint, "step": step}})


def _finish(trainer: Trainer, cfg: RunConfig, splits: DataSplits, pictures: bool = True, fresh: bool = False,
            phrasing: str = "cli") -> Run:
    if not trainer.dist.is_main:  # under DDP rank 0 alone writes (and cleans up) the run folder
        run = Run(trainer.run_dir, cfg, _fit_rank(trainer))
    else:
        run = _finish_main(trainer, cfg, splits, pictures, fresh, phrasing)
    trainer.dist.shutdown()  # every rank leaves together once rank 0 has written its files
    return run


def _finish_main(trainer: Trainer, cfg: RunConfig, splits: DataSplits, pictures: bool, fresh: bool,
                 phrasing: str) -> Run:
    """Rank 0 (or the only process): train, then write the status, the latent check and the pictures."""
    result = _fit(trainer, fresh)
    folder = RunFolder(trainer.run_dir)
    model = trainer.model.eval()
    status = {"status": "finished" if result.finished else "stopped", "step": result.step, "epoch": result.epoch,
              "val_metrics": result.val_metrics, "flush_denormal": trainer.denormal_mode,
              # what ran, which config.yaml cannot say: it keeps compile: true after a fallback (what was asked, so
              # resume tries again); the checkpoints' precision.compile says the same per checkpoint
              "compile": {"requested": cfg.trainer.compile, "compiled": trainer.acc.compiled,
                          "fallback": trainer.acc.fallback}}
    if not trainer.objective.generative:  # a classifier alone: its decoder and q(z|x) are untrained, nothing to show
        folder.update_meta(**status)
        return Run(folder.path, cfg, result)
    # a collapsed model writes every file a good one does
    latents = latent_check(model, cfg, splits, result.step, phrasing)
    folder.update_meta(**status, latents=latents)
    _warn_collapse(latents["warnings"])
    if not pictures:
        return Run(folder.path, cfg, result, tuple(latents["warnings"]), latents)
    x = splits.test.x if len(splits.test) else splits.train.x  # tiny data may have no test split
    write_pictures(folder, model, x, "last", result.step)  # the final weights: those of the newest checkpoint
    return Run(folder.path, cfg, result, tuple(latents["warnings"]), latents)


def train_run(cfg: RunConfig, *, splits: DataSplits | None = None, runs_dir: str | Path = "runs",
              name: str | None = None, overwrite: bool = False, progress: bool = True,
              callbacks: Iterable[Callback] = (), pictures: bool = True, phrasing: str = "cli",
              in_memory: bool | None = None) -> Run:
    """Train ``cfg`` and write a run folder ``runs_dir/name``; returns the :class:`Run`.

    ``splits`` trains on data already in memory instead of loading ``cfg.data.source`` (``run.json`` then records
    ``"in_memory": true``; commands that reload data from the config need the caller to keep the data), unless
    ``in_memory=False`` says they are ``load_splits(cfg)`` itself (a caller that needs the data after training,
    ``sp.debias.train``, loads them once): the run then records the source and its fingerprint as if it had loaded
    them. Everything is validated and the data are loaded before the run folder is created, so a bad input leaves
    nothing behind.
    ``pictures=False`` skips ``samples.png`` and ``reconstructions.png`` (estimators fitted many times in a grid
    search do not need them). ``phrasing="estimator"`` words the advice after a posterior collapse with the
    scikit-learn estimators' keywords instead of command-line options (``evaluation.collapse_advice``).
    """
    in_memory = splits is not None and in_memory is not False
    if not in_memory and resolve_source(cfg.data.source) != cfg.data.source:  # a path: read from any folder
        cfg = set_keys(cfg, {"data.source": resolve_source(cfg.data.source)})
    built = build_objective(cfg, refuse_unread=True)  # a new run only: resume still continues older runs
    splits = splits if splits is not None else load_splits(cfg)
    cfg = resolve_epochs(cfg, len(splits.train))  # trainer.epochs unset: 30, or more for 1,000 steps on small data
    spec = model_spec(cfg, splits, built.posterior, built.classifier)
    if cfg.debias.resample != "none":
        head_size(splits.train.labels, cfg.debias.debias_class)  # resampling needs the class in the labels
    build_model(spec)  # fail on an impossible architecture before touching the disk
    device = resolve_device(cfg.trainer.device)
    check_precision(cfg.trainer.precision, device)
    dist = from_env(device.type)  # a single process unless torchrun started us
    check_world(dist.world, cfg.trainer.batch_size, len(splits.train))  # every rank refuses, before any folder
    name = dist.broadcast_object(name or default_name(cfg.model.preset, cfg.data.source))  # rank 0's clock
    if not dist.is_main:
        return _finish(_trainer(cfg, RunFolder(Path(runs_dir) / name), splits, built, spec, callbacks, progress, dist),
                       cfg, splits, pictures, phrasing=phrasing)
    folder = create_run(runs_dir, name, overwrite)
    data_info: dict[str, Any] = {
        "source": cfg.data.source, "in_memory": in_memory, "shape": list(splits.train.shape),
        "value_range": splits.train.value_range, "sizes": {s: len(splits.get(s)) for s in ("train", "val", "test")},
        "meta": splits.train.meta, "has_factors": splits.train.factors is not None,
        "has_labels": splits.train.labels is not None,
        "fingerprint": None if in_memory else data_fingerprint(cfg.data.source)}
    folder.write_config(cfg)
    folder.write_meta(start_meta(cfg, {"status": "running", "data": data_info, "model_spec": spec.to_dict(),
                                       "preset": cfg.model.preset, "world_size": dist.world,
                                       # the lr the optimizer uses: trainer.lr, or the preset's when that is unset
                                       "lr": cfg.trainer.lr if cfg.trainer.lr is not None
                                       else built.objective.optimizer.lr}))
    folder.mark_running()
    try:
        trainer = _trainer(cfg, folder, splits, built, spec, callbacks, progress, dist)
    except BaseException:  # nothing trained yet: leave no half-made folder behind
        shutil.rmtree(folder.path, ignore_errors=True)
        raise
    return _finish(trainer, cfg, splits, pictures, fresh=True, phrasing=phrasing)


def resume_run(run: str | Path | Any, cfg: RunConfig | None = None, *, splits: DataSplits | None = None,
               progress: bool = True, callbacks: Iterable[Callback] = (), data: str | None = None) -> Run:
    """Continue ``run`` from its newest readable checkpoint with ``cfg`` (default: the run's own config; the
    caller checks that a changed config keeps the run the same). ``splits``: as in :func:`train_run`."""
    folder = open_run(run)
    cfg = cfg or folder.config
    ckpt = folder.newest_checkpoint()  # a torn newest file (a kill mid-write) falls back to the one before
    built = build_objective(cfg)
    if splits is None:  # the run's data, or `data` when they moved (checked against the recorded fingerprint)
        splits = run_splits(folder, data)  # resume changes trainer settings only, never the data options
    spec = ModelSpec.from_dict(ckpt.state["model_spec"])  # the checkpoint's, not rebuilt from data that may differ
    dist = from_env(resolve_device(cfg.trainer.device).type)
    check_world(dist.world, cfg.trainer.batch_size, len(splits.train))
    trainer = _trainer(cfg, folder, splits, built, spec, callbacks, progress, dist)
    trainer.restore(ckpt)
    if not dist.is_main:
        return _finish(trainer, cfg, splits)
    if cfg != folder.config:
        folder.write_config(cfg)
    folder.update_meta(world_size=dist.world)  # processes of the latest train/resume (checkpoints keep each one's)
    folder.mark_running()
    return _finish(trainer, cfg, splits)


def run_on_disk(path: Path, cfg: RunConfig) -> Run:
    """The :class:`Run` of a folder that other processes trained (``--nproc``), from its newest checkpoint and the
    latent check rank 0 wrote to ``run.json`` (so a collapsed model is reported here as after a one-process run)."""
    folder = open_run(path)
    ckpt = folder.newest_checkpoint()
    s = ckpt.state
    best = folder.best_path if folder.best_path.is_file() else None
    latents = folder.meta.get("latents")
    found = tuple(latents.get("warnings", ())) if latents else ()
    _warn_collapse(found)
    return Run(folder.path, cfg, TrainResult(folder.path, s["step"], s["epoch"], bool(s.get("finished")), ckpt.path,
                                             best, dict(s.get("val_metrics", {}))), found, latents)
