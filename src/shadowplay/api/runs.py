"""Training-side API: train, resume, load, sample, reconstruct, info, study.

>>> import shadowplay as sp
>>> run = sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=30)   # doctest: +SKIP
>>> model = sp.load(run.path)                                                           # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch

from ..config import RunConfig, load_config, parse_overrides, save_yaml, set_keys
from ..data import DataSplits, SourceOptions, load_data
from ..errors import CheckpointError, ConfigError
from ..model import LatentVariableModel, ModelSpec, build_model, resolve_likelihood
from ..objectives import PresetParams, build_preset
from ..objectives.presets import PresetResult
from ..reports.images import save_examples
from ..run import RunFolder, create_run_dir, default_name, open_run, update_run_json, write_run_files
from ..training import (Callback, Trainer, TrainResult, read_checkpoint, read_metrics, resolve_device,
                        seed_everything)


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


def _finish(trainer: Trainer, cfg: RunConfig, splits: DataSplits, pictures: bool = True) -> Run:
    result = trainer.fit()
    update_run_json(trainer.run_dir, status="finished" if result.finished else "stopped", step=result.step,
                    epoch=result.epoch, val_metrics=result.val_metrics)
    if not pictures:
        return Run(trainer.run_dir, cfg, result)
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
    return fit_splits(cfg, load_splits(cfg), runs_dir=runs_dir, name=name, overwrite=overwrite, progress=progress,
                      callbacks=callbacks)


def fit_splits(cfg: RunConfig, splits: DataSplits, *, runs_dir: str | Path = "runs", name: str | None = None,
               overwrite: bool = False, progress: bool = True, callbacks: Iterable[Callback] = (),
               pictures: bool = True) -> Run:
    """Train ``cfg`` on data already in memory (``splits``) and write a new run folder ``runs_dir/name``.

    This is :func:`train` after the data are loaded; the scikit-learn estimators (``shadowplay.sklearn``) call it
    with splits made from arrays. The preset, the architecture and the device are checked before the folder is
    created, so a bad input leaves nothing on disk. ``pictures=False`` skips ``samples.png`` and
    ``reconstructions.png`` (estimators fitted many times in a grid search do not need them).
    """
    built = build_objective(cfg)
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
    return _finish(_trainer(cfg, path, splits, built, spec, callbacks, progress), cfg, splits, pictures)


def resume(run_dir: str | Path, overrides: list[str] | dict[str, Any] | None = None, progress: bool = True,
           callbacks: Iterable[Callback] = ()) -> Run:
    """Continue a run from its newest readable checkpoint, exactly where it stopped.

    ``overrides`` may extend the budget (``trainer.epochs=50``); keys that change the model or data are refused.
    """
    folder = open_run(run_dir)
    cfg = folder.config
    if overrides:
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
        save_yaml(cfg, folder.path / "config.yaml")
    update_run_json(folder.path, status="running")
    return _finish(trainer, cfg, splits)


def load(path: str | Path, which: str = "best", device: str = "cpu") -> LatentVariableModel:
    """Rebuild a trained model from a run folder (or a checkpoint file) without unpickling anything.

    ``which`` is ``best`` (best validation ELBO), ``last``, or a checkpoint file name.
    """
    p = Path(path)
    ckpt = open_run(p).checkpoint(which) if p.is_dir() else read_checkpoint(p)
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
    from ..study import run_study
    return run_study(path, jobs=jobs, output=output, log=print if progress else (lambda msg: None))
