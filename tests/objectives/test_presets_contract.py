"""The contract every preset keeps (DESIGN.md, rule of thumb 9), checked for each entry of ``PRESETS`` as it
stands when the package is imported, so presets added later are covered without editing this file.

A few dozen steps on 256 tiny 1×28×28 images (conv nets): every logged value is finite, the loss goes down, every
part the objective reports (with its weight), every diagnostic and each auxiliary optimizer's loss is logged to
``metrics.jsonl`` (train lines; the validation lines carry the same parts and diagnostics), a model with a KL logs an
ELBO and the plain autoencoder none, and the checkpoint rebuilds through ``api.load`` a model whose
``encode(x).mean`` and ``decode(z).mean`` equal the trained model's.
"""

from __future__ import annotations

import math

import pytest
import torch

import shadowplay.api as api  # imports every module that registers a preset
from shadowplay.objectives import PRESETS, PresetParams, StepContext
from shadowplay.training import Callback, latest_good, read_metrics

STEPS = 40
WINDOW = 5


class GrabTrainer(Callback):
    """Keeps a reference to the trainer so the test can compare the in-memory model with the saved one."""

    trainer = None

    def on_epoch_start(self, trainer, epoch):
        self.trainer = trainer


def test_the_builtin_presets_are_registered():
    assert {"ae", "vae", "beta_vae", "annealed_vae"} <= set(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_contract(preset, tiny_images, tiny_labelled, runs_dir, fast):
    grab = GrabTrainer()
    needs_labels = PRESETS[preset](PresetParams()).classifier  # DB-VAE and its baseline train a classifier head
    data = tiny_labelled if needs_labels else tiny_images
    run = api.train(data=str(data), model=preset, latent_dim=4, seed=0, runs_dir=runs_dir, name=preset,
                    overrides=[*fast, f"trainer.max_steps={STEPS}", "trainer.epochs=1000", "trainer.log_every=1"],
                    progress=False, callbacks=[grab])
    trainer = grab.trainer
    assert run.result.step == STEPS and trainer is not None

    # every step logged, every value finite
    train = [r for r in read_metrics(run.path) if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(1, STEPS + 1))
    for r in train:
        for k, v in r.items():
            if k not in ("split",):
                assert isinstance(v, (int, float)) and math.isfinite(v), f"{preset}: {k}={v!r} at step {r['step']}"

    # the loss goes down: mean of the last few logged steps below the mean of the first few
    first = sum(r["loss"] for r in train[:WINDOW]) / WINDOW
    last = sum(r["loss"] for r in train[-WINDOW:]) / WINDOW
    assert last < first - 1e-3 * abs(first), f"{preset}: loss {first:.3f} -> {last:.3f} did not decrease"

    # every reported part (unweighted value and weight), diagnostic and auxiliary loss is logged, by the name the
    # objective reports it under (a (K,) diagnostic as name/0 … name/K−1)
    parts = trainer.objective.parts
    assert parts == api.build_objective(run.config).objective.parts and parts
    with torch.no_grad():
        x = trainer.train_x[:trainer.val_batch_size]
        y = trainer.train_labels[:len(x)] if trainer.train_labels is not None else None
        reported = trainer.objective(trainer.model(x), StepContext(dataset_size=trainer.n, labels=y)).logged()
    assert set(parts) <= set(reported)
    names = {k if v.ndim == 0 else f"{k}/{i}" for k, v in reported.items() for i in range(max(v.numel(), 1))}
    expected = {*names, *(f"weight/{n}" for n in parts), *(f"{n}_aux" for n in trainer.objective.aux_terms())}
    missing = expected - set(train[-1])
    assert not missing, f"{preset}: not logged: {sorted(missing)}"
    assert set(trainer.optimizers) == {"model", *trainer.objective.aux_terms()}
    val = [r for r in read_metrics(run.path) if r["split"] == "val"]
    assert val and not names - set(val[-1]), f"{preset}: not in validation: {sorted(names - set(val[-1]))}"
    # DB-VAE's VAE parts cover one class only and its baseline has no VAE: neither has a whole-data ELBO to log
    has_elbo = api.build_objective(run.config).posterior != "point" and not needs_labels
    assert ("elbo" in names) == has_elbo, "an ELBO is logged exactly when the objective is a bound on log p(x)"

    # save -> load round trip: the rebuilt model computes exactly what the trained one does
    ckpt = latest_good(run.path / "checkpoints")
    assert ckpt.state["step"] == STEPS and ckpt.state["preset"] == preset
    for k, v in trainer.objective.state_dict().items():  # term networks (e.g. a discriminator) are saved too
        assert torch.equal(ckpt.tensors[f"objective/{k}"], v.cpu()), k
    live = trainer.model.eval()
    loaded = api.load(run.path, "last")
    assert type(loaded.posterior) is type(live.posterior)
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(loaded.encode(x).mean, live.encode(x).mean)
        assert torch.equal(loaded.decode(z).mean, live.decode(z).mean)
    assert api.load(run.path, "best").decode(z).mean.shape == (16, 1, 28, 28)
