"""Opening a run folder: what the error says when the path is not one."""

import json

import pytest

from shadowplay.api import load
from shadowplay.config import RunConfig, save_yaml
from shadowplay.errors import CheckpointError
from shadowplay.run import enclosing_run, open_run


def _fake_run(path):
    path.mkdir(parents=True)
    save_yaml(RunConfig(), path / "config.yaml")
    (path / "run.json").write_text(json.dumps({"status": "stopped"}))
    return path


def test_a_missing_run_folder_is_called_a_run_folder_and_the_closest_run_is_named(tmp_path):
    _fake_run(tmp_path / "runs" / "quickstart")
    with pytest.raises(CheckpointError, match=r"run folder '.*quickstar' does not exist; did you mean "
                                              r"'.*runs/quickstart'\?$"):
        open_run(tmp_path / "runs" / "quickstar")
    # `sample` loads through load(): it said "checkpoint '…/nope' does not exist"
    with pytest.raises(CheckpointError, match=r"^run folder '.*nope' does not exist$"):
        load(tmp_path / "runs" / "nope")


def test_a_file_inside_a_run_names_the_run_folder_to_give(tmp_path):
    run = _fake_run(tmp_path / "runs" / "qs")
    assert enclosing_run(run / "config.yaml") == run and enclosing_run(run / "checkpoints" / "x") == run
    # load() called config.yaml a corrupted checkpoint ("header too large")
    with pytest.raises(CheckpointError, match=r"config.yaml' is a file inside the run folder '.*qs'; give the run "
                                              r"folder itself: .*qs$"):
        load(run / "config.yaml")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match="notes.txt' is a file, not a run folder"):
        open_run(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match=r"checkpoint '.*gone.safetensors' does not exist"):
        load(run / "checkpoints" / "gone.safetensors")  # a checkpoint path is still read as one
