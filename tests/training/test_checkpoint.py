"""Checkpoints: atomic safetensors writes, clear errors for torn/foreign/garbage files, fallback to the previous
readable checkpoint, ``keep_last`` pruning that keeps ``best``, and no unpickling anywhere (DESIGN.md, rule 5)."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import shadowplay.api as api
from shadowplay.config import load_config
from shadowplay.errors import CheckpointError
from shadowplay.model import ModelSpec, build_model
from shadowplay.objectives import PresetParams, build_preset
from shadowplay.training import (Trainer, latest_good, read_checkpoint, read_metrics, step_checkpoints,
                                 write_checkpoint)
from shadowplay.training.checkpoint import prune

SRC = Path(__file__).resolve().parents[2] / "src" / "shadowplay"


def _write(folder: Path, step: int, value: float = 0.0) -> Path:
    return write_checkpoint(folder / f"step-{step:09d}.safetensors", {"model/w": torch.full((3, 2), value)},
                            {"step": step, "note": "é ✓"})


def test_write_then_read_round_trip_leaves_no_temp_files(tmp_path):
    t = {"model/w": torch.randn(4, 3), "optim/model/0/exp_avg": torch.randn(4, 3), "rng/cpu": torch.get_rng_state()}
    path = write_checkpoint(tmp_path / "ck" / "step-000000005.safetensors", t, {"step": 5, "nested": {"a": [1, 2]}})
    assert sorted(p.name for p in path.parent.iterdir()) == ["step-000000005.safetensors"]
    ck = read_checkpoint(path)
    assert all(torch.equal(ck.tensors[k], v) for k, v in t.items())
    assert ck.state["step"] == 5 and ck.state["nested"] == {"a": [1, 2]}
    assert ck.state["format"] == "shadowplay-checkpoint/1"
    assert set(ck.section("model")) == {"w"}
    assert read_checkpoint(path, tensors=False).tensors == {}


def test_a_write_that_fails_midway_keeps_the_old_file(tmp_path, monkeypatch):
    path = _write(tmp_path, 7, 1.0)
    import shadowplay.run.checkpoints as ck  # the file format lives in the run package

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 64)  # part of a file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "save_file", half_written)
    with pytest.raises(OSError):
        _write(tmp_path, 7, 2.0)
    assert torch.equal(read_checkpoint(path).tensors["model/w"], torch.full((3, 2), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_truncated_file_is_reported_as_such(tmp_path):
    path = _write(tmp_path, 1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        read_checkpoint(path)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "step-000000001.safetensors"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        read_checkpoint(path)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError):
        read_checkpoint(empty)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_a_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.ones(2)}, str(path), metadata={"framework": "someone else"})
    with pytest.raises(CheckpointError, match="not a shadowplay checkpoint"):
        read_checkpoint(path)
    wrong = tmp_path / "future.safetensors"
    save_file({"w": torch.ones(1)}, str(wrong), metadata={"shadowplay": '{"format": "shadowplay-checkpoint/99"}'})
    with pytest.raises(CheckpointError, match="format"):
        read_checkpoint(wrong)
    garbled = tmp_path / "garbled.safetensors"
    save_file({"w": torch.ones(1)}, str(garbled), metadata={"shadowplay": "{not json"})
    with pytest.raises(CheckpointError, match="unreadable header"):
        read_checkpoint(garbled)


def test_latest_good_falls_back_past_a_torn_newest_file(tmp_path):
    with pytest.raises(CheckpointError, match="has not saved one yet"):
        latest_good(tmp_path)
    _write(tmp_path, 10, 1.0)
    newest = _write(tmp_path, 20, 2.0)
    newest.write_bytes(newest.read_bytes()[:100])
    (tmp_path / ".step-000000030.safetensors.tmp-123").write_bytes(b"partial")  # a write killed midway
    ck = latest_good(tmp_path)
    assert ck.state["step"] == 10 and torch.equal(ck.tensors["model/w"], torch.full((3, 2), 1.0))
    (tmp_path / "step-000000010.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        latest_good(tmp_path)


def test_prune_keeps_the_newest_and_best(tmp_path):
    for s in (1, 2, 3, 4, 5):
        _write(tmp_path, s)
    (tmp_path / "best.safetensors").write_bytes((tmp_path / "step-000000002.safetensors").read_bytes())
    prune(tmp_path, keep_last=2)
    assert [p.name for p in step_checkpoints(tmp_path)] == ["step-000000004.safetensors", "step-000000005.safetensors"]
    assert read_checkpoint(tmp_path / "best.safetensors").state["step"] == 2


class _BestAtFirstEpoch(Trainer):
    """Validation that is best after the first epoch and worse after every later one."""

    def validate(self):
        return {"loss": float(self.epoch), "elbo": -float(self.epoch)}


def test_trainer_prunes_step_files_but_keeps_best(tmp_path, fast):
    torch.manual_seed(0)
    x = torch.rand(64, 6)
    model = build_model(ModelSpec(data_shape=(6,), latent_dim=2, hidden=(8,)))
    cfg = load_config(None, [*fast, "trainer.epochs=4", "trainer.batch_size=16", "trainer.checkpoint_every=3",
                                 "trainer.keep_last=2", "trainer.progress=false"]).trainer
    trainer = _BestAtFirstEpoch(model, build_preset("vae", PresetParams()).objective, x, x[:8], cfg, tmp_path,
                                torch.device("cpu"))
    result = trainer.fit()
    names = [p.name for p in step_checkpoints(tmp_path / "checkpoints")]
    assert len(names) == 2 and names[-1] == "step-000000016.safetensors"
    best = read_checkpoint(result.best_checkpoint)
    assert best.state["step"] == 4 and best.state["best"] == 0.0  # from epoch 1, its step file long pruned
    assert "step-000000004.safetensors" not in names
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if ".tmp" in p.name]


class _BestAtSixthEpoch(Trainer):
    """Validation that finds a new best after the first and the sixth epoch only."""

    def validate(self):
        return {"loss": 0.0, "elbo": 1.0 if self.epoch == 5 else 0.0}


def test_tiny_epochs_are_checkpointed_every_checkpoint_min_steps_and_at_each_new_best(tmp_path, fast):
    """2 steps an epoch, 15 epochs: saved after the first epoch (step 2), 8 steps after the last save (10, 20, 28), at
    the new best (12) and at the end (30); every epoch still validates and logs its val line."""
    torch.manual_seed(0)
    x = torch.rand(64, 6)
    model = build_model(ModelSpec(data_shape=(6,), latent_dim=2, hidden=(8,)))
    cfg = load_config(None, [*fast, "trainer.epochs=15", "trainer.checkpoint_min_steps=8", "trainer.keep_last=100",
                             "trainer.progress=false"]).trainer
    trainer = _BestAtSixthEpoch(model, build_preset("vae", PresetParams()).objective, x, x[:8], cfg, tmp_path,
                                torch.device("cpu"))
    result = trainer.fit()
    steps = [read_checkpoint(p, tensors=False).state["step"] for p in step_checkpoints(tmp_path / "checkpoints")]
    assert steps == [2, 10, 12, 20, 28, 30]
    assert read_checkpoint(result.best_checkpoint).state["step"] == 12
    val = [r for r in read_metrics(tmp_path) if r["split"] == "val"]
    assert [r["step"] for r in val] == list(range(2, 31, 2))


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "step-000000001.safetensors"
    path.write_bytes(pickle.dumps({"model/w": Payload()}))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    with pytest.raises(CheckpointError):
        api.load(path)
    assert not marker.exists()


def test_no_pickle_based_loading_in_the_package():
    """Grep the source: no ``pickle``/``torch.load`` loading except ``torch.load(..., weights_only=True)``."""
    bad = []
    patterns = [re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib|shelve)\b"),
                re.compile(r"\b(c?pickle|dill|cloudpickle|joblib)\.(load|loads|Unpickler)\b"),
                re.compile(r"allow_pickle\s*=\s*True"), re.compile(r"__import__\(\s*['\"](c?pickle|dill)")]
    for path in sorted(SRC.rglob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(SRC)}:{no}: {line.strip()}"
            if any(p.search(line) for p in patterns):
                bad.append(where)
            if "torch.load(" in line and "weights_only=True" not in line:
                bad.append(where)
    assert not bad, "pickle-based loading found:\n" + "\n".join(bad)


@pytest.fixture
def three_epoch_run(tmp_path):
    """A digits run of 3 epochs (a checkpoint each) whose best is the last epoch's (ELBO rises early on)."""
    return api.train(data="digits", model="vae", latent_dim=2, epochs=3, runs_dir=tmp_path, name="r", progress=False,
                     overrides={"model.hidden": [16], "data.n_samples": 200, "trainer.batch_size": 40,
                                "trainer.log_every": 1})


def test_damaged_newest_checkpoint_warns_keeps_metrics_consistent_and_best_survives(three_epoch_run):
    # issue 9 item 5: resume fell back silently, metrics.jsonl then held two rows of one step, and best.safetensors
    # was a hard link to the newest step file, so damaging that file in place also broke `best`.
    from shadowplay.errors import CheckpointFallbackWarning
    from shadowplay.run import open_run
    folder = open_run(three_epoch_run.path)
    newest = folder.checkpoints[-1]
    best_before = read_checkpoint(folder.best_path)
    assert best_before.state["step"] == read_checkpoint(newest).state["step"]  # best is the newest step here
    assert os.stat(folder.best_path).st_ino != os.stat(newest).st_ino      # an independent file, not a link
    with open(newest, "r+b") as f:  # damage in place: the same inode, garbage in the middle
        f.seek(100)
        f.write(b"\0" * 200)
    best = read_checkpoint(folder.best_path)  # best is intact
    before, after = best_before.section("model"), best.section("model")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    with pytest.warns(CheckpointFallbackWarning, match=r"could not be read.*using step-0+\d+\.safetensors") as rec:
        api.resume(folder.path, ["trainer.epochs=4"], progress=False)
    fallback = [w for w in rec if w.category is CheckpointFallbackWarning]
    assert fallback[0].filename == __file__  # the user's resume(...) line, not a file inside shadowplay
    recs = folder.read_metrics()
    keys = [(r["split"], r["step"]) for r in recs]
    assert len(keys) == len(set(keys)), "metrics.jsonl holds two records of one step"
    assert [r["epoch"] for r in recs if r["split"] == "val"] == [1, 2, 3, 4]


def test_damaged_best_falls_back_with_a_warning(three_epoch_run):
    from shadowplay.errors import CheckpointFallbackWarning
    from shadowplay.run import open_run
    folder = open_run(three_epoch_run.path)
    folder.best_path.write_bytes(folder.best_path.read_bytes()[:300])
    with pytest.warns(CheckpointFallbackWarning, match="instead of best") as rec:
        model = api.load(folder.path)
    assert rec[0].filename == __file__  # attributed to the user's load(...) line
    assert model.latent_dim == 2
