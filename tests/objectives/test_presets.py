"""Presets read only some objective options; an option the chosen preset never reads is refused, not ignored."""

import pytest
import yaml

import shadowplay.api as api
from shadowplay.errors import ConfigError
from shadowplay.objectives import PRESETS, PresetParams, build_preset


def test_build_preset_names_the_options_it_never_read():
    assert build_preset("ae", PresetParams(beta=4.0)).unread == {"objective.beta": 4.0}
    annealed = build_preset("annealed_vae", PresetParams(beta=2.0, warmup_steps=10, capacity_weight=5.0))
    assert annealed.unread == {"objective.beta": 2.0, "objective.warmup_steps": 10}
    assert annealed.read == ("capacity_weight", "capacity_max", "capacity_steps")
    assert build_preset("beta_tcvae", PresetParams(tc_weight=3.0)).unread == {"objective.tc_weight": 3.0}
    assert build_preset("vae", PresetParams(beta=2.0, warmup_steps=10)).unread == {}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_defaults_are_never_reported_as_given(name):
    assert build_preset(name, PresetParams()).unread == {}


def test_train_refuses_an_option_the_preset_ignores_before_writing_anything(tiny_flat, runs_dir):
    # `shadowplay train --model ae --beta 4` trained an autoencoder and said nothing: it has no KL for β to weight
    with pytest.raises(ConfigError, match=r"the ae preset does not use objective.beta=4.0 \(it reads no objective "
                                          r"option\): it would be ignored"):
        api.train(data=str(tiny_flat), model="ae", beta=4, runs_dir=runs_dir, progress=False)
    with pytest.raises(ConfigError, match=r"annealed_vae preset does not use objective.beta=2.0, "
                                          r"objective.warmup_steps=5 .*: they would be ignored; drop them"):
        api.train(data=str(tiny_flat), model="annealed_vae", beta=2, overrides=["objective.warmup_steps=5"],
                  runs_dir=runs_dir, progress=False)
    assert list(runs_dir.iterdir()) == []


def test_resume_still_continues_a_run_saved_with_an_option_its_preset_ignores(tiny_flat, runs_dir):
    """Runs made before the check may carry such an option in config.yaml; resume must not strand them."""
    run = api.train(data=str(tiny_flat), model="ae", latent_dim=2, epochs=1, runs_dir=runs_dir, name="old",
                    overrides=["model.hidden=[16]", "trainer.batch_size=64", "trainer.max_steps=2"], progress=False)
    cfg = yaml.safe_load((run.path / "config.yaml").read_text())
    cfg["objective"]["beta"] = 4.0
    (run.path / "config.yaml").write_text(yaml.safe_dump(cfg))
    again = api.resume(run.path, ["trainer.max_steps=3"], progress=False)
    assert again.result.step == 3
