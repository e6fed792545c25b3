"""The Python API: the one-line equivalents of the CLI commands, what a run folder holds, and the shapes of a
loaded model's ``encode``/``decode``/``sample``."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from PIL import Image

import shadowplay as sp
import shadowplay.api as api
from shadowplay.config import RunConfig, load_config
from shadowplay.errors import CheckpointError, ConfigError, DataError

SMALL = ["model.hidden=[32]", "trainer.batch_size=64", "data.n_samples=300"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """``shadowplay train --data digits --model beta_vae --beta 4 --latent-dim 8 --epochs 2`` as one API call."""
    runs = tmp_path_factory.mktemp("runs")
    return sp.train(data="digits", model="beta_vae", beta=4, latent_dim=8, epochs=2, overrides=SMALL,
                    runs_dir=runs, name="demo", progress=False)


def test_train_writes_a_complete_run_folder(digits_run):
    run = digits_run
    assert run.config.model.preset == "beta_vae" and run.config.objective.beta == 4.0
    assert run.config.model.latent_dim == 8 and run.config.trainer.epochs == 2
    assert run.result.finished and run.result.epoch == 2 and run.result.step == 2 * 4  # 240 train rows / 64
    for name in ("config.yaml", "run.json", "metrics.jsonl", "samples.png", "reconstructions.png"):
        assert (run.path / name).is_file(), name
    assert load_config(run.path / "config.yaml") == run.config   # re-usable with --config
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["status"] == "finished" and meta["data"]["shape"] == [1, 8, 8]
    assert meta["data"]["sizes"] == {"train": 240, "val": 30, "test": 30}
    assert meta["model_spec"]["likelihood"] == "bernoulli" and meta["versions"]["torch"] == torch.__version__
    assert (run.path / "checkpoints" / "best.safetensors").is_file()
    assert set(run.result.val_metrics) >= {"loss", "recon", "kl", "elbo"}


def test_loaded_model_shapes(digits_run):
    model = sp.load(digits_run.path)
    assert not model.training
    x = api.load_splits(digits_run.config).test.x[:5]
    assert model.encode(x).mean.shape == (5, 8)
    assert model.decode(torch.randn(3, 8)).mean.shape == (3, 1, 8, 8)
    assert model.sample(64).shape == (64, 1, 8, 8)
    assert model.reconstruct(x).shape == (5, 1, 8, 8)
    best_file = digits_run.path / "checkpoints" / "best.safetensors"
    from_file = sp.load(best_file)
    assert torch.equal(from_file.decode(torch.zeros(1, 8)).mean, model.decode(torch.zeros(1, 8)).mean)
    assert digits_run.load("last").latent_dim == 8


def test_sample_reconstruct_info(digits_run, tmp_path):
    out = tmp_path / "s.png"
    x = sp.sample(digits_run.path, n=16, out=out, seed=1)
    assert x.shape == (16, 1, 8, 8) and torch.equal(x, sp.sample(digits_run.path, n=16, seed=1))
    assert Image.open(out).format == "PNG"
    xin, xhat = sp.reconstruct(digits_run.path, n=6, split="val", out=tmp_path / "r.png")
    assert xin.shape == xhat.shape == (6, 1, 8, 8)
    assert torch.equal(xin, api.load_splits(digits_run.config).val.x[:6])
    i = sp.info(digits_run.path)
    assert i.step == 8 and i.epoch == 2 and i.config["model"]["preset"] == "beta_vae"
    assert "best.safetensors" in i.checkpoints and i.last_val["elbo"] < 0
    with pytest.raises(ValueError, match=">= 1"):
        sp.sample(digits_run.path, n=0)


def test_resume_extends_the_budget_but_not_the_model(digits_run, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(digits_run.path, copy)
    with pytest.raises(ConfigError, match="model.latent_dim"):
        sp.resume(copy, ["model.latent_dim=3"])
    run = sp.resume(copy, ["trainer.epochs=3"], progress=False)
    assert run.result.epoch == 3 and run.result.step == 12
    assert yaml.safe_load((copy / "config.yaml").read_text())["trainer"]["epochs"] == 3


def test_resume_of_a_finished_run_suggests_a_budget_past_the_epoch_reached(digits_run, tmp_path):
    import shutil
    copy = tmp_path / "done"
    shutil.copytree(digits_run.path, copy)  # 2 epochs done
    with pytest.raises(ConfigError, match=r"epoch 2 of 1, .*trainer.epochs=4$"):  # was trainer.epochs=2: no epoch
        sp.resume(copy, ["trainer.epochs=1"])
    with pytest.raises(ConfigError, match=r"epoch 2 of 2, .*trainer.epochs=4$"):
        sp.resume(copy)


def test_resume_of_a_run_at_its_max_steps_says_how_to_go_on(tmp_path, tiny_flat):
    run = sp.train(data=str(tiny_flat), model="vae", latent_dim=2, runs_dir=tmp_path, name="capped", progress=False,
                   overrides=["model.hidden=[16]", "trainer.batch_size=64", "trainer.max_steps=2"])
    # it resumed, trained nothing and printed the same result again
    with pytest.raises(ConfigError, match=r"stopped at trainer.max_steps=2 \(step 2, epoch 0 of \d+\): nothing to "
                                          r"resume.*trainer.max_steps=none$"):
        sp.resume(run.path)
    assert sp.resume(run.path, ["trainer.max_steps=3"], progress=False).result.step == 3


def test_config_object_and_yaml_file_inputs(tmp_path, tiny_flat):
    cfg = load_config(None, ["model.preset=ae", "model.latent_dim=2", "trainer.max_steps=3", "model.hidden=[16]",
                             f"data.source={tiny_flat}"])
    run = sp.train(cfg, runs_dir=tmp_path, name="obj", progress=False)
    assert isinstance(run.config, RunConfig) and run.result.step == 3 and run.config.model.preset == "ae"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    run2 = sp.train(str(tmp_path / "c.yaml"), runs_dir=tmp_path, name="file", progress=False, seed=0)
    a, b = sp.load(run.path), sp.load(run2.path)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_bad_inputs_leave_nothing_behind(tmp_path, tiny_flat):
    runs = tmp_path / "runs"
    with pytest.raises(DataError, match="unknown data source 'digit'.*did you mean 'digits'"):
        sp.train(data="digit", runs_dir=runs, progress=False)
    with pytest.raises(ConfigError, match="unknown model 'beta-vae'.*did you mean 'beta_vae'"):
        sp.train(data=str(tiny_flat), model="beta-vae", runs_dir=runs, progress=False)
    with pytest.raises(ValueError, match="--net mlp"):
        sp.train(data=str(tiny_flat), net="conv", runs_dir=runs, progress=False)
    assert not runs.exists() or not any(runs.iterdir())
    with pytest.raises(CheckpointError, match="does not exist"):
        sp.load(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a shadowplay run"):
        sp.info(tmp_path)


def test_other_csv_data_are_scored_on_the_training_scale(tmp_path):
    """A run trained on CSV rows keeps the standardization statistics; evaluating another CSV file with the run
    (``evaluate(data=...)``) standardizes it with those, not with its own."""
    import numpy as np

    from shadowplay.api.inspect import _split_data
    from shadowplay.run import open_run
    rng = np.random.default_rng(1)
    a, b = rng.normal(5.0, 3.0, (200, 4)), rng.normal(0.0, 1.0, (200, 4))
    for name, arr in (("a.csv", a), ("b.csv", b)):
        (tmp_path / name).write_text("p,q,r,s\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in arr))
    run = api.train(data=str(tmp_path / "a.csv"), model="vae", latent_dim=2, runs_dir=tmp_path / "runs",
                    name="csv", progress=False, overrides={"model.hidden": [8], "trainer.max_steps": 2})
    folder = open_run(run.path)
    stats = folder.meta["data"]["meta"]["standardize"]
    got = _split_data(folder, "test", data=str(tmp_path / "b.csv"))
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    raw = got.x.double().numpy() * std + mean  # back to the file's units with the training statistics
    nearest = np.abs(raw[:, None, :] - b[None, :, :]).max(-1).min(1)  # each row is a row of b.csv
    assert nearest.max() < 1e-3


def test_every_run_function_takes_the_run_that_train_returns(digits_run, tmp_path):
    run = digits_run
    assert torch.equal(sp.load(run).decode(torch.zeros(1, 8)).mean, sp.load(run.path).decode(torch.zeros(1, 8)).mean)
    assert sp.info(run).step == sp.info(str(run.path)).step
    assert sp.sample(run, n=4, write=False).shape == (4, 1, 8, 8)
    assert sp.reconstruct(run, n=2, write=False)[1].shape == (2, 1, 8, 8)
    assert sp.load(run, checkpoint="last").latent_dim == 8
    assert sp.evaluate(run, iw_samples=1, write=False).document["n_inputs"] == 30
    assert sp.traverse(run, steps=2, write=False).traversal.images.shape[2] == 2
    assert sp.interpolate(run, 0, 1, steps=2, write=False).interpolation.images.shape[0] == 2
    with pytest.raises(TypeError, match="run folder"):
        sp.load(42)


def test_train_takes_every_cli_option_as_a_keyword(tmp_path, tiny_flat):
    run = sp.train(data=str(tiny_flat), model="factor_vae", tc_weight=10, lr=3e-4, likelihood="gaussian",
                   batch_size=16, deterministic=True, latent_dim=2, overrides={"trainer.max_steps": 2,
                                                                               "model.hidden": [8]},
                   runs_dir=tmp_path, name="kw", progress=False)
    t, o = run.config.trainer, run.config.objective
    assert (t.lr, t.batch_size, t.deterministic, o.tc_weight) == (3e-4, 16, True, 10.0)
    assert run.config.model.likelihood == "gaussian"
    assert json.loads((run.path / "run.json").read_text())["model_spec"]["likelihood"] == "gaussian"


def test_choices_are_checked_where_used_before_anything_is_written(tmp_path, tiny_flat):
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match="unknown likelihood 'poisson'.*bernoulli, gaussian, laplace"):
        sp.train(data=str(tiny_flat), likelihood="poisson", runs_dir=runs, progress=False)
    with pytest.raises(ConfigError, match="unknown net 'rnn'.*mlp, conv"):
        sp.train(data=str(tiny_flat), net="rnn", runs_dir=runs, progress=False)
    assert not runs.exists() or not any(runs.iterdir())


def test_collapse_warnings_of_train_and_resume_point_at_the_callers_line(tiny_flat, tmp_path):
    # they pointed at shadowplay/workflow/training_run.py (train) or shadowplay/api/runs.py (resume)
    import warnings

    from shadowplay.workflow import PosteriorCollapseWarning
    for how in ("train", "resume"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if how == "train":
                api.train(data=str(tiny_flat), model="vae", latent_dim=3, runs_dir=tmp_path, name="c", progress=False,
                          overrides=["model.hidden=[16]", "trainer.epochs=2", "trainer.max_steps=1"])
            else:
                api.resume(tmp_path / "c", ["trainer.max_steps=none"], progress=False)
        collapse = [w for w in caught if issubclass(w.category, PosteriorCollapseWarning)]
        assert collapse, how
        assert {w.filename for w in collapse} == {__file__}, how

