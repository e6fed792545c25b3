"""FactorVAE's discriminator is a second named optimizer: a killed-and-resumed run must restore it exactly.

Run A trains 6 steps straight; run B trains 3 steps, stops (as after a kill: the checkpoint at step 3 is all that
is left) and is resumed to step 6. Restoring the step-3 checkpoint into a fresh trainer reproduces the
discriminator's Adam state tensor for tensor, and B ends bit-identical to A: model, discriminator and both
optimizers.
"""

from __future__ import annotations

import torch

import shadowplay.api as api
from shadowplay.model import ModelSpec, build_model
from shadowplay.training import Trainer, latest_good

SMALL_DISC = ["objective.extra={disc_hidden: 32, disc_layers: 2}"]


def _train(tiny_flat, runs_dir, fast, name, steps):
    return api.train(data=str(tiny_flat), model="factor_vae", latent_dim=3, seed=0, runs_dir=runs_dir, name=name,
                     overrides=[*fast, *SMALL_DISC, f"trainer.max_steps={steps}", "trainer.epochs=50"],
                     progress=False)


def _optim_tensors(ckpt, name):
    return {k: v for k, v in ckpt.tensors.items() if k.startswith(f"optim/{name}/")}


def test_discriminator_optimizer_state_is_restored_exactly(tiny_flat, runs_dir, fast):
    straight = _train(tiny_flat, runs_dir, fast, "straight", 6)
    part = _train(tiny_flat, runs_dir, fast, "resumed", 3)
    mid = latest_good(part.path / "checkpoints")
    assert mid.state["step"] == 3
    disc_state = _optim_tensors(mid, "factor_tc")
    assert disc_state, "the discriminator optimizer is missing from the checkpoint"
    meta = mid.state["optimizers"]["factor_tc"]["param_groups"][0]
    assert meta["lr"] == 1e-4 and tuple(meta["betas"]) == (0.5, 0.9)
    vae = mid.state["optimizers"]["model"]["param_groups"][0]  # the preset's VAE optimizer (trainer.lr unset)
    assert vae["lr"] == 1e-4 and tuple(vae["betas"]) == (0.9, 0.999)

    # a fresh trainer restored from step 3 holds the same discriminator Adam state, tensor for tensor
    cfg = part.config
    built = api.build_objective(cfg)
    fresh = Trainer(build_model(ModelSpec.from_dict(mid.state["model_spec"])), built.objective,
                    torch.rand(64, 1, 8, 8), None, cfg.trainer, runs_dir / "scratch", torch.device("cpu"))
    fresh.restore(mid)
    restored = fresh.optimizers["factor_tc"].state_dict()
    assert len(restored["state"]) == len(list(built.objective.terms["factor_tc"].parameters()))
    for idx, st in restored["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(st[key].cpu(), mid.tensors[f"optim/factor_tc/{idx}/{key}"]), (idx, key)
    assert fresh.step == 3 and torch.equal(torch.get_rng_state(), mid.tensors["rng/cpu"])

    # resuming continues exactly where an uninterrupted run would be
    api.resume(part.path, ["trainer.max_steps=6"], progress=False)
    a, b = latest_good(straight.path / "checkpoints"), latest_good(part.path / "checkpoints")
    assert a.state["step"] == b.state["step"] == 6
    assert set(a.tensors) == set(b.tensors)
    for k in a.tensors:
        if k.startswith(("model/", "objective/", "optim/")):
            assert torch.equal(a.tensors[k], b.tensors[k]), k
    assert not torch.equal(_optim_tensors(b, "factor_tc")["optim/factor_tc/0/exp_avg"],
                           disc_state["optim/factor_tc/0/exp_avg"])  # the discriminator kept training
