"""Config: YAML file plus ``key=value`` overrides, unknown keys with a suggestion, type and value errors naming
the key, and a lossless YAML round trip."""

from __future__ import annotations

import pytest

from shadowplay.config import RunConfig, load_config, parse_overrides, save_yaml, set_keys, unused_options
from shadowplay.errors import ConfigError


def test_defaults_are_valid_and_frozen():
    cfg = load_config()
    assert cfg == RunConfig()
    with pytest.raises(Exception):
        cfg.trainer.lr = 1.0  # frozen dataclass


def test_yaml_then_overrides_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  preset: beta_vae\n  hidden: [128, 64]\n  latent_dim: 6\n"
                    "trainer:\n  lr: 0.01\n  epochs: 7\nobjective:\n  beta: 2.5\n")
    cfg = load_config(path, ["trainer.lr=3e-4", "model.hidden=[32]", "trainer.max_steps=none"])
    assert cfg.model.preset == "beta_vae" and cfg.model.latent_dim == 6
    assert cfg.trainer.lr == pytest.approx(3e-4)     # the override beats the file
    assert cfg.trainer.epochs == 7                    # the file beats the default
    assert cfg.model.hidden == (32,) and isinstance(cfg.model.hidden, tuple)
    assert cfg.objective.beta == 2.5
    assert cfg.trainer.max_steps is None


def test_override_types_are_coerced():
    cfg = set_keys(RunConfig(), {"trainer.epochs": "3", "trainer.deterministic": "yes", "model.hidden": "16,8",
                                 "objective.extra": "{alpha: 1.0}", "model.scale": "0.5", "trainer.grad_clip": "1"})
    assert cfg.trainer.epochs == 3 and cfg.trainer.deterministic is True
    assert cfg.model.hidden == (16, 8) and cfg.objective.extra == {"alpha": 1.0}
    assert cfg.model.scale == 0.5 and cfg.trainer.grad_clip == 1.0


def test_unknown_section_in_yaml_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainr:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="trainr"):
        load_config(path)


@pytest.mark.parametrize("item", ["trainer.epochs=abc", "trainer.epochs=1.5", "trainer.deterministic=maybe",
                                  "trainer.lr=fast", "model.hidden=[a, b]", "objective.extra=[1, 2]",
                                  "trainer.epochs=true", "trainer.batch_size=none"])
def test_type_errors_name_the_key(item):
    key = item.partition("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [item])


def test_trainer_lr_none_means_the_presets_default():
    assert load_config(None).trainer.lr is None  # the value lives in objectives.OptimizerDefaults, not here
    assert load_config(None, ["trainer.lr=3e-4"]).trainer.lr == 3e-4
    assert load_config(None, ["trainer.lr=3e-4", "trainer.lr=none"]).trainer.lr is None


@pytest.mark.parametrize("item", ["trainer.epochs=0", "objective.beta=-1", "trainer.lr=0", "trainer.batch_size=0",
                                  "model.latent_dim=0", "objective.tc_weight=-2", "trainer.optimizer=sgd",
                                  "objective.capacity_weight=-1", "objective.dimwise_kl_weight=-1", "model.scale=0", "trainer.max_steps=0",
                                  "trainer.keep_last=0"])
def test_bad_values_are_rejected_naming_the_key(item):
    key = item.partition("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [item])


def test_the_old_gamma_key_says_where_each_meaning_went():
    with pytest.raises(ConfigError, match="capacity_weight.*tc_weight.*dimwise_kl_weight.*lambda_od"):
        load_config(None, ["objective.gamma=2"])


def test_bad_value_in_yaml_is_rejected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  epochs: 0\n")
    with pytest.raises(ConfigError, match=r"trainer\.epochs"):
        load_config(path)


def test_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)
    flat = tmp_path / "flat.yaml"
    flat.write_text("trainer: 3\n")
    with pytest.raises(ConfigError, match="'trainer' must be a mapping"):
        load_config(flat)


def test_override_without_equals_sign_is_explained():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["trainer.lr"])


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, ["model.preset=annealed_vae", "model.hidden=[32, 16]", "objective.extra={a: 1}",
                             "trainer.grad_clip=2.0", "data.source=/x/y.npy"])
    save_yaml(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


def test_auto_epochs_give_small_data_enough_steps():
    # issue 9: 200 images at batch 128 are 2 steps an epoch; 30 epochs (60 steps) left every latent at the prior
    from shadowplay.config import auto_epochs, resolve_epochs
    assert RunConfig().trainer.epochs is None
    assert auto_epochs(160, 128) == 500            # 2 steps an epoch -> 1,000 steps
    assert auto_epochs(1437, 128) == 84            # digits: 12 steps an epoch
    assert auto_epochs(54000, 128) == 30           # large data: 30 epochs as before
    cfg = resolve_epochs(RunConfig(), 1437)
    assert cfg.trainer.epochs == 84
    assert resolve_epochs(load_config(overrides=["trainer.epochs=3"]), 10).trainer.epochs == 3  # given: obeyed


def test_unused_options_name_what_the_run_never_reads():
    plain = RunConfig().to_dict()  # a digits VAE: no debiasing, no biased-fmnist, net decided by the data
    unused = set(unused_options(plain))
    assert unused == {f"debias.{k}" for k in plain["debias"]} | {"data.positive_classes", "data.rare_fraction"}
    assert "model.channels" in unused_options(plain, net="mlp") and "model.hidden" in unused_options(plain, net="conv")
    db = set_keys(RunConfig(), {"model.preset": "dbvae", "data.source": "biased-fmnist"}).to_dict()
    assert unused_options(db) == []  # DB-VAE reads the debias section; biased-fmnist reads its two options
    resampled = set_keys(RunConfig(), {"debias.resample": "groups"}).to_dict()
    assert not any(k.startswith("debias.") for k in unused_options(resampled))
    assert set(unused_options(plain)) <= {f"{s}.{k}" for s, v in plain.items() for k in v}  # real keys only


@pytest.mark.parametrize("key, closest", [
    ("trainer.lrr", "trainer.lr"), ("model.latent_dims", "model.latent_dim"), ("objective.betta", "objective.beta"),
    ("trainr.beta", "objective.beta"),      # a section typo and a key of another section (was: 'trainer.seed')
    ("trainer.beta", "objective.beta"),     # was 'trainer.seed'
    ("trainr.preset", "model.preset"),      # was 'trainer.progress'
    ("objective.lr", "trainer.lr"),         # was 'objective.extra'
    ("modl.epochs", "trainer.epochs"),      # was 'model.channels'
    ("trainr.epochs", "trainer.epochs"),
    ("epochs", "trainer.epochs")])
def test_unknown_key_suggests_the_closest_section_first(key, closest):
    with pytest.raises(ConfigError, match=f"did you mean '{closest}'\\?$"):
        load_config(None, [f"{key}=1"])


def test_unknown_section_names_the_closest_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainr:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config section 'trainr'; did you mean 'trainer'\?$"):
        load_config(path)  # was: did you mean 'trainer.lr'?
    with pytest.raises(ConfigError, match=r"no section 'trainr' \(did you mean 'trainer'\? its keys are epochs, "):
        load_config(None, ["trainr.foo=1"])
    with pytest.raises(ConfigError, match=r"the trainer section's keys are epochs, batch_size"):
        load_config(None, ["trainer.foo=1"])
    with pytest.raises(ConfigError, match=r"did you mean 'data.seed' or 'trainer.seed'\?"):
        load_config(None, ["seed=1"])


def test_a_yaml_error_keeps_its_line_and_column_on_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  epochs: 3\nmodel: {latent_dim: 4\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1  # the CLI shows the first line only: the place must be on it
    assert msg == (f"{bad} is not valid YAML: line 4, column 1: expected ',' or '}}', but got '<stream end>' "
                   "(while parsing a flow mapping from line 3, column 8)")


def test_one_preset_option_as_the_docs_name_it():
    # `objective.extra.lambda_od=3` (README, architecture.md, this module's own messages) was an "unknown config key";
    # only `objective.extra={lambda_od: 3}` worked
    cfg = load_config(None, ["objective.extra.lambda_od=3", "objective.extra.disc_betas=[0.5, 0.8]",
                             "objective.extra.estimator=mws"])
    assert cfg.objective.extra == {"lambda_od": 3, "disc_betas": [0.5, 0.8], "estimator": "mws"}
    both = load_config(None, ["objective.extra={alpha: 2}", "objective.extra.lambda_d=4"])
    assert both.objective.extra == {"alpha": 2, "lambda_d": 4}  # merged, not replaced
    with pytest.raises(ConfigError, match="unknown config key 'objective.extra.'"):
        load_config(None, ["objective.extra.=3"])
