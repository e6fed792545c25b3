"""Building a run's parts from its config: data splits, objective, model spec, and a trained model from disk.

These are the steps every application needs (the API, the outlier detector, DB-VAE, the scikit-learn estimators,
the explorer); they live below all of them so none has to import ``shadowplay.api``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..data import DataSplits, SourceOptions, load_data
from ..errors import CheckpointError, DataError
from ..model import LatentVariableModel, ModelSpec, build_model, resolve_likelihood
from ..objectives import preset_for, preset_params  # noqa: F401  (preset_params: re-exported)
from ..objectives.presets import PresetResult
from ..run import RunFolder, open_run, read_checkpoint
from ..training import resolve_device

# The objective's own networks (FactorVAE's discriminator) are seeded from trainer.seed plus this offset, so their
# initial weights differ from a stream seeded with trainer.seed alone (the model's) yet are fixed by the seed; 7919
# is simply a prime far from the small seeds people use.
OBJECTIVE_SEED_OFFSET = 7919


def load_splits(cfg: RunConfig) -> DataSplits:
    """The train/val/test splits that ``cfg.data`` describes. Splits and drawn subsets (dSprites) follow
    ``data.seed``, never ``trainer.seed``: runs that differ only in their training seed (the seeds of a study) see
    the same train/val/test sets, so their test numbers are comparable."""
    d = cfg.data
    opts = SourceOptions(data_dir=d.data_dir, n_samples=d.n_samples, image_size=d.image_size, color=d.color,
                         label_column=d.label_column, group_column=d.group_column, seed=d.seed, positive_classes=d.positive_classes,
                         rare_fraction=d.rare_fraction)
    return load_data(d.source, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed,
                     options=opts)


def build_objective(cfg: RunConfig, refuse_unread: bool = False) -> PresetResult:
    """The preset's objective (``objectives.preset_for``; ``refuse_unread``: refuse options the preset never reads,
    as a new run does). Term networks (FactorVAE's discriminator) are initialized from ``trainer.seed`` in a forked
    RNG, so the same seed gives the same run and the global random stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.trainer.seed + OBJECTIVE_SEED_OFFSET)
        return preset_for(cfg, refuse_unread)


def model_spec(cfg: RunConfig, splits: DataSplits, posterior: str, classifier: bool = False) -> ModelSpec:
    """The architecture recipe for ``cfg.model`` on the shape and value range of the training split;
    ``classifier`` (DB-VAE's presets) adds a classifier head on the encoder, sized from the training labels."""
    m = cfg.model
    return ModelSpec(data_shape=splits.train.shape, latent_dim=m.latent_dim, net=m.net, hidden=m.hidden,
                     channels=m.channels, posterior=posterior,
                     likelihood=resolve_likelihood(m.likelihood, splits.train.value_range), scale=m.scale,
                     head_dim=head_size(splits.train.labels, cfg.debias.debias_class) if classifier else 0)


def head_size(labels: torch.Tensor | None, debias_class: int) -> int:
    """1 (one logit) for labels in {0, 1}, K for labels in 0..K−1 with K > 2; checks the debiased class is there."""
    if labels is None:
        raise DataError("a classifier preset (dbvae, classifier) or resampling needs labelled data; this source "
                        "has no labels")
    present = sorted(labels.unique().tolist())
    if present[0] < 0:
        raise DataError(f"class labels must be 0..K-1, got {present[0]}")
    if debias_class not in present:
        raise DataError(f"the debiased class {debias_class} is absent from the training labels (classes present: "
                        f"{', '.join(map(str, present))}); set debias.debias_class to one of them")
    k = present[-1] + 1
    return 1 if k <= 2 else k


def load_model(run: str | Path | Any, checkpoint: str = "best", device: str = "cpu") -> LatentVariableModel:
    """Rebuild a trained model from a run folder (or the ``Run`` that training returned, or a checkpoint file)
    without unpickling anything. ``checkpoint`` is ``best`` (best validation ELBO), ``last``, or a file name; a
    ``.safetensors`` path is read as a checkpoint file itself."""
    folder = RunFolder(run)
    p = folder.path
    # a .safetensors file is a checkpoint; anything else (a missing folder, a run's config.yaml) is opened as a run
    # folder, whose error says what to give instead (config.yaml was reported as a corrupted checkpoint)
    as_file = p.suffix == ".safetensors" and not p.is_dir()
    ckpt = read_checkpoint(p) if as_file else open_run(folder).checkpoint(checkpoint)
    if "model_spec" not in ckpt.state:
        raise CheckpointError(f"{ckpt.path} has no model spec; it was not written by shadowplay's trainer")
    model = build_model(ModelSpec.from_dict(ckpt.state["model_spec"]))
    try:
        model.load_state_dict(ckpt.section("model"))
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt.path}: weights do not match the recorded architecture ({e})") from None
    return model.to(resolve_device(device)).eval()
