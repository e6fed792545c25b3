"""The command line, run as a user runs it: ``python -m shadowplay.cli ...`` in a child process.

Every user mistake must end with exit status 2 and exactly one stderr line ``error: ...`` (no traceback); ``--debug``
shows the traceback. The error cases are independent, so they run concurrently to keep the suite fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shadowplay.objectives import PRESETS
from shadowplay.reports.images import label_width

SMALL = ["model.hidden=[32]", "data.n_samples=300", "trainer.batch_size=32"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_cli):
    """A digits VAE run stopped by ``trainer.max_steps=5``."""
    root = tmp_path_factory.mktemp("cli")
    p = run_cli(root, ["train", "--data", "digits", "--model", "vae", "--latent-dim", "4", "--no-progress",
                       "--runs-dir", str(root / "runs"), "--name", "r", "trainer.max_steps=5", *SMALL])
    assert p.returncode == 0, p.stderr
    assert f"run folder: {root / 'runs' / 'r'}" in p.stdout
    # it said "epochs 0 (stopped early)": neither why nor how to go on
    assert (f"steps 5, epochs 0 of 125 (stopped by trainer.max_steps=5; `shadowplay resume "
            f"{root / 'runs' / 'r'} trainer.max_steps=none` trains on)") in p.stdout, p.stdout
    return root / "runs" / "r"


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def errors(trained, tmp_path_factory, run_cli):
    """Runs every error case at once; maps case name to its completed process (plus the expected message)."""
    d = tmp_path_factory.mktemp("bad")
    nan = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    nan[3, 1] = np.nan
    np.save(d / "nan.npy", nan)
    np.save(d / "empty.npy", np.zeros((0, 5), np.float32))
    np.save(d / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(d / "complex.npy", np.ones((4, 3), complex))
    (d / "bad.yaml").write_text("trainer: [1,\n")
    (d / "not_a_run").mkdir()
    (d / "not_a_run" / "notes.txt").write_text("hello")
    torn = d / "torn"
    shutil.copytree(trained, torn)
    for p in (torn / "checkpoints").glob("*.safetensors"):
        p.write_bytes(p.read_bytes()[:200])
    train = ["train", "--no-progress", "--runs-dir", str(d / "runs")]
    cases = {
        "unknown data source": (train + ["--data", "digitz"], "unknown data source 'digitz'"),
        "config typo": (train + ["--data", "digits", "trainer.lrr=0.1"], "did you mean 'trainer.lr'"),
        "missing config file": (train + ["--config", str(d / "missing.yaml")], "does not exist"),
        "missing run folder": (["info", str(d / "no_such_run")], "does not exist"),
        "not a run folder": (["sample", str(d / "not_a_run")], "not a shadowplay run folder"),
        "existing run without --overwrite": (["train", "--no-progress", "--data", "digits", "--runs-dir",
                                              str(trained.parent), "--name", "r", *SMALL], "already exists"),
        # --checkpoint last: the run stopped by max_steps also has a (torn) best, whose fallback warning is a line
        "corrupted checkpoint": (["sample", str(torn), "--checkpoint", "last", "-o", str(d / "x.png")],
                                 "corrupted or truncated"),
        "NaN in .npy": (train + ["--data", str(d / "nan.npy")], "NaN"),
        "empty .npy": (train + ["--data", str(d / "empty.npy")], "empty"),
        "strings .npy": (train + ["--data", str(d / "strings.npy")], "not real numbers"),
        "complex .npy": (train + ["--data", str(d / "complex.npy")], "not real numbers"),
        "conv net on 8x8": (train + ["--data", "digits", "--net", "conv"],
                            "--net mlp, or, for a folder of images, resize them with the override data.image_size=32"),
        "misspelt run folder": (["sample", str(trained.parent / "r2")],
                                f"run folder {str(trained.parent / 'r2')!r} does not exist; did you mean "
                                f"{str(trained)!r}?"),
        "a file inside a run": (["sample", str(trained / "config.yaml")], f"give the run folder itself: {trained}"),
        "YAML error": (train + ["--config", str(d / "bad.yaml")], "line 2, column 1: expected the node content"),
        "cuda without a GPU": (train + ["--data", "digits", "--device", "cuda"], "no CUDA GPU"),
        "mps without MPS": (train + ["--data", "digits", "--device", "mps"], "--device mps is not available"),
        "missing data folder": (train + ["--data", str(d / "my_images") + "/"], "does not exist"),
        "resume changing the model": (["resume", str(torn), "model.latent_dim=3"], "model.latent_dim"),
        "bad sample count": (["sample", str(trained), "-n", "0"], ">= 1"),
    }
    before = _snapshot(trained)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, d, args, {"CUDA_VISIBLE_DEVICES": ""})
                   for name, (args, _) in cases.items()}
        results = {name: (f.result(), cases[name][1]) for name, f in futures.items()}
    results["_untouched"] = before == _snapshot(trained)
    results["_runs_made"] = sorted(p.name for p in (d / "runs").iterdir()) if (d / "runs").exists() else []
    return results


ERROR_CASES = ["unknown data source", "config typo", "missing config file", "missing run folder",
               "not a run folder", "existing run without --overwrite", "corrupted checkpoint", "NaN in .npy",
               "empty .npy", "strings .npy", "complex .npy", "conv net on 8x8", "cuda without a GPU", "mps without MPS",
               "missing data folder", "misspelt run folder", "a file inside a run", "YAML error",
               "resume changing the model", "bad sample count"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_user_errors_exit_2_with_one_line(errors, case):
    proc, expected = errors[case]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and expected in lines[0]


def test_failed_commands_leave_no_run_behind_and_do_not_touch_an_existing_one(errors):
    assert errors["_untouched"]
    assert errors["_runs_made"] == []


def test_debug_shows_the_traceback(cli, tmp_path):
    p = cli("--debug", "info", str(tmp_path / "nope"))
    # still the user's error: status 2 with the traceback (it was 1, a bug's status)
    assert p.returncode == 2 and "Traceback" in p.stderr and "CheckpointError" in p.stderr
    assert p.stderr.strip().splitlines()[-1] == f"error: run folder {str(tmp_path / 'nope')!r} does not exist"


def test_info_text_and_json(trained, cli):
    text = cli("info", str(trained))
    assert text.returncode == 0, text.stderr
    assert "vae, latent_dim 4" in text.stdout and "step 5, epoch 0/125" in text.stdout  # auto: 125 epochs of 8 steps
    assert "step-000000005" in text.stdout
    # options the run never reads are left out of the text and named once; --json keeps the whole config
    assert "debias:" not in text.stdout and "rare_fraction=" not in text.stdout and "channels=" not in text.stdout
    assert "not read by this run, left out: data.positive_classes, data.rare_fraction, model.channels, debias.*" \
        in text.stdout and "hidden=[32]" in text.stdout
    # trainer.lr unset read "lr=None"; the run records the lr its optimizer used (the preset's default here)
    assert "lr=None (the preset's 0.001)" in text.stdout
    js = cli("info", str(trained), "--json")
    doc = json.loads(js.stdout)
    assert doc["step"] == 5 and doc["config"]["model"]["latent_dim"] == 4 and "debias" in doc["config"]
    assert doc["run"]["status"] == "stopped" and "step-000000005.safetensors" in doc["checkpoints"]


def _grid_side(n_images: int, per_row: int, side: int, pad: int = 2) -> tuple[int, int]:
    """Pixel size of a grid of ``side``-px images with ``pad`` px borders, enlarged so a cell is >= 64 px."""
    up = max(1, 64 // side)
    rows = math.ceil(n_images / per_row)
    return (per_row * (side + pad) + pad) * up, (rows * (side + pad) + pad) * up


def test_sample_and_reconstruct_write_pngs_of_the_right_grid(trained, cli, tmp_path):
    p = cli("sample", str(trained), "-n", "16", "-o", "x.png", "--seed", "3")
    assert p.returncode == 0, p.stderr
    img = Image.open(tmp_path / "x.png")
    assert img.format == "PNG" and img.mode == "L" and img.size == _grid_side(16, 4, 8)
    up = 64 // 8
    arr = np.asarray(img)
    for k in range(5):  # the white separators between the 4 x 4 cells
        band = slice(k * 10 * up, (k * 10 + 2) * up)
        assert (arr[band] == 255).all() and (arr[:, band] == 255).all()
    p = cli("reconstruct", str(trained), "-n", "6", "-o", "r.png", "--split", "val")
    assert p.returncode == 0, p.stderr
    w, h = _grid_side(12, 6, 8)  # inputs above reconstructions, each row labelled in a margin on the left
    assert Image.open(tmp_path / "r.png").size == (w + label_width(["input", "reconstruction"]), h)


def test_resume_a_run_stopped_by_max_steps(trained, cli, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    p = cli("resume", str(copy), "--no-progress", "trainer.max_steps=none", "trainer.epochs=1")
    assert p.returncode == 0, p.stderr
    assert "steps 8, epochs 1" in p.stdout and "stopped by" not in p.stdout   # 240 rows / 32 per batch
    assert json.loads((copy / "run.json").read_text())["status"] == "finished"


def test_presets_lists_every_preset(cli):
    p = cli("presets")
    assert p.returncode == 0
    listed = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    assert listed == sorted(PRESETS)
    assert all(len(line.split()) > 1 for line in p.stdout.splitlines() if line.strip())  # each one described



def test_debug_after_the_subcommand_shows_the_traceback(cli, tmp_path):
    p = cli("info", "--debug", str(tmp_path / "nope"))
    assert p.returncode == 2 and "Traceback" in p.stderr and "CheckpointError" in p.stderr


@pytest.mark.parametrize("exc", [KeyError("factor_tc"), TypeError("unexpected keyword"), ValueError("plain"),
                                 RuntimeError("boom")])
def test_a_bug_prints_the_traceback_and_says_so(monkeypatch, capsys, tmp_path, exc):
    """Only ShadowplayError and file errors are the user's; any other exception is a bug in the library."""
    from shadowplay import cli as cli_module

    def broken(run):
        raise exc
    monkeypatch.setattr(cli_module.api, "info", broken)
    assert cli_module.main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and type(exc).__name__ in err and "bug in shadowplay" in err


def test_file_errors_are_user_errors(monkeypatch, capsys, tmp_path):
    from shadowplay import cli as cli_module

    def missing(run):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.npy"))
    monkeypatch.setattr(cli_module.api, "info", missing)
    assert cli_module.main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "gone.npy" in err[0]


def test_train_warns_at_the_end_when_the_posterior_collapsed(cli, tmp_path):
    # issue 9 item 1: the Quickstart learned nothing and nothing said so. β = 50 on 300 digits collapses every latent.
    p = cli("train", "--data", "digits", "--model", "beta_vae", "--beta", "50", "--latent-dim", "4", "--epochs",
            "15", "--no-progress", "--name", "c", *SMALL)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("warning: ")]
    assert any("posterior collapse" in ln for ln in lines), p.stdout
    assert any("what to try" in ln and "--likelihood gaussian" in ln and "β = 50" in ln for ln in lines)
    assert "PosteriorCollapseWarning" not in p.stderr   # printed once, as a one-line warning
    validation = next(ln for ln in p.stdout.splitlines() if "validation:" in ln)
    assert "elbo" in validation and "kl_per_latent" not in validation  # vectors are summarized by `latents:`
    latents = json.loads((tmp_path / "runs" / "c" / "run.json").read_text())["latents"]
    assert latents["collapsed"] and latents["n_active"] == 0 and latents["kl_total"] < 0.1
    assert latents["warnings"] == [ln[len("warning: "):] for ln in lines]
    assert "latents  0 of 4 active" in cli("info", str(tmp_path / "runs" / "c")).stdout


def test_info_into_a_closed_pipe_ends_quietly(trained, tmp_path):
    # issue 9 item 7: `shadowplay info <run> | head` ended in a BrokenPipeError traceback
    import os
    import shlex
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cmd = shlex.join([sys.executable, "-m", "shadowplay.cli", "info", str(trained)]) + " | head -n 1"
    p = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.stdout.startswith("run ") and "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_resume_of_a_finished_run_says_there_is_nothing_to_do(trained, cli, tmp_path):
    copy = tmp_path / "done"
    shutil.copytree(trained, copy)
    assert cli("resume", str(copy), "--no-progress", "trainer.max_steps=none", "trainer.epochs=1").returncode == 0
    p = cli("resume", str(copy), "--no-progress")
    assert p.returncode == 2 and "is finished" in p.stderr and "nothing to resume" in p.stderr
    assert "trainer.epochs=2" in p.stderr


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path):
    # issue 9 item 3: a failure before the first checkpoint left `status: running` and blocked the name
    import shadowplay as sp
    from shadowplay.training import Callback

    class Boom(Callback):
        def on_epoch_start(self, trainer, epoch):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        sp.train(data="digits", runs_dir=tmp_path / "runs", name="b", progress=False, callbacks=[Boom()],
                 overrides=SMALL)
    assert not (tmp_path / "runs" / "b").exists()


def test_info_tells_running_finished_stopped_interrupted_and_failed(trained, cli, tmp_path):
    import os
    import subprocess
    import sys

    from shadowplay.run import open_run
    copy = tmp_path / "s"
    shutil.copytree(trained, copy)
    folder = open_run(copy)
    assert folder.status == "stopped"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder.update_meta(status="running", pid=dead.pid, host=__import__("socket").gethostname())
    assert open_run(copy).status == "interrupted"
    assert "(interrupted; `shadowplay resume` continues it)" in cli("info", str(copy)).stdout
    folder.update_meta(pid=os.getpid())
    assert open_run(copy).status == "running"
    folder.update_meta(status="failed", error="RuntimeError: boom")
    assert "(failed: RuntimeError: boom)" in cli("info", str(copy)).stdout


def test_a_run_on_a_relative_path_works_from_any_folder_and_after_a_move(tmp_path, monkeypatch, capsys):
    # issue 9 item 2: config.yaml kept `source: tab_clean.csv`, so evaluate/reconstruct/report failed elsewhere
    from shadowplay.cli import main
    work, other = tmp_path / "work", tmp_path / "other"
    work.mkdir()
    other.mkdir()
    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.4f}" for v in r) for r in rng.normal(size=(120, 4)))
    (work / "tab.csv").write_text("a,b,c,d\n" + rows + "\n")

    def cli_in(where, *args):
        monkeypatch.chdir(where)
        rc = main(list(map(str, args)))
        out = capsys.readouterr()
        return rc, out.out, out.err

    rc, _, err = cli_in(work, "train", "--data", "tab.csv", "--name", "t", "--no-progress", "trainer.max_steps=4",
                        "model.hidden=[8]")
    assert rc == 0, err
    run = work / "runs" / "t"
    meta = json.loads((run / "run.json").read_text())
    assert meta["data"]["source"] == str(work / "tab.csv") and len(meta["data"]["fingerprint"]) == 64
    for args in (["evaluate", run, "-k", "2", "--no-progress"], ["reconstruct", run], ["traverse", run, "--steps", "3"]):
        rc, _, err = cli_in(other, *args)
        assert rc == 0, (args, err)
    (work / "tab.csv").rename(other / "moved.csv")
    rc, _, err = cli_in(other, "reconstruct", run)
    assert rc == 2 and "not there any more" in err and "--data PATH" in err
    rc, _, err = cli_in(other, "report", run, "--data", "moved.csv", "--refresh", "-k", "2", "--no-progress")
    assert rc == 0, err
    assert (run / "evaluation" / "evaluation.json").is_file()   # the run's own data, moved: its own files
    assert not list((run / "evaluation").glob("evaluation-moved*"))
    (other / "moved.csv").write_text("a,b,c,d\n" + rows.replace("0", "1") + "\n")
    rc, _, err = cli_in(other, "report", run, "--data", "moved.csv")
    assert rc == 2 and "not the data this run was trained on" in err
    (work / "tab.csv").write_text((other / "moved.csv").read_text())
    rc, _, err = cli_in(other, "reconstruct", run)
    assert rc == 0 and "warning: " in err and "has changed since this run was trained" in err


def test_seed_help_says_which_seed_it_sets():
    """--seed sets trainer.seed only; the split follows data.seed (docs/architecture.md, Config). The help claimed
    it seeded the data split too."""
    from shadowplay import api
    from shadowplay.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in (sub.choices["train"], sub.choices["debias"]._actions[-1].choices["train"]):
        seed = next(a for a in command._actions if a.dest == "seed")
        assert seed.help.startswith("trainer.seed:") and "split follows data.seed" in seed.help
    assert api.TRAIN_KEYS["seed"] == "trainer.seed"


def test_every_option_of_every_command_has_help_text():
    # issue 9 item 7: --latent-dim, --net, --epochs, reconstruct -n, the `run` arguments... had no help
    import argparse

    from shadowplay.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [(name, a.option_strings or a.dest) for name, p in sub.choices.items() for a in p._actions
               if not isinstance(a, argparse._HelpAction)
               and (not (a.help or "").strip() or a.help.strip().startswith("(default"))]
    assert not missing, missing


def test_every_help_page_renders_without_escapes():
    """`--help` of every command and sub-command: descriptions are printed as written (argparse %-formats help strings
    but not descriptions, so an escaped "95%%" in a description showed up doubled)."""
    import argparse

    from shadowplay.cli import build_parser

    def pages(parser, name):
        yield name, parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    yield from pages(sub, f"{name} {sub_name}")

    found = list(pages(build_parser(), "shadowplay"))
    assert len(found) > 20 and any(n == "shadowplay outliers" for n, _ in found)
    bad = [n for n, text in found if "%%" in text or "%(" in text]
    assert not bad, bad


@pytest.mark.parametrize("args, option", [
    (["study", "{study}", "--jobs", "0"], "--jobs/-j"),        # was a ValueError traceback from the runner
    (["study", "{study}", "-j", "-1"], "--jobs/-j"),
    (["train", "--data", "digits", "--runs-dir", "{runs}", "trainer.max_steps=1", "--nproc", "0"], "--nproc"),
    (["train", "--data", "digits", "--runs-dir", "{runs}", "--nproc", "-1"], "--nproc"),  # was accepted: 1 process
    (["resume", "{study}", "--nproc", "0"], "--nproc"),
])
def test_counts_of_jobs_and_processes_must_be_positive(tmp_path, capsys, args, option):
    from shadowplay.cli import main
    study = tmp_path / "study.yaml"
    study.write_text("models: [{preset: vae}]\nmetrics: []\n")
    assert main([a.format(study=study, runs=tmp_path / "runs") for a in args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].endswith(
        f"error: argument {option}: expected a positive integer (1, 2, ...), got {args[-1]!r}")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "study").exists()


def test_python_callers_get_the_same_refusal(tmp_path):
    import shadowplay.api as sp
    from shadowplay.errors import ConfigError
    from shadowplay.study import StudyRunner, load_study
    study = tmp_path / "study.yaml"
    study.write_text("models: [{preset: vae}]\nmetrics: []\n")
    for jobs in (0, -1):
        with pytest.raises(ConfigError, match=f"--jobs must be a positive integer .*got {jobs}"):
            sp.study(study, jobs=jobs, progress=False)
        with pytest.raises(ConfigError, match="--jobs must be a positive integer"):
            StudyRunner(load_study(study), jobs=jobs)
    for nproc in (0, -1):
        with pytest.raises(ConfigError, match=f"--nproc must be a positive integer .*got {nproc}"):
            sp.train(data="digits", nproc=nproc, runs_dir=tmp_path / "runs", progress=False,
                     overrides={"trainer.max_steps": 1})
        with pytest.raises(ConfigError, match="--nproc must be a positive integer"):
            sp.resume(tmp_path / "no_run", nproc=nproc)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "study").exists()


@pytest.mark.parametrize("text, says", [
    ("{beta_vae: 1}", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("[1]", "expected a JSON object"),  # was "invalid loads value" for the first, and accepted for the second
])
def test_metric_options_must_be_a_json_object(tmp_path, capsys, text, says):
    from shadowplay.cli import main
    assert main(["evaluate", str(tmp_path / "run"), "--metric-options", text]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and says in err.strip().splitlines()[-1]


@pytest.mark.parametrize("command, api_name, hint", [
    (["train", "--data", "digits"], "train", "`shadowplay resume <run>` continues from the last checkpoint"),
    (["study", "s.yaml"], "study", "the same `shadowplay study` command skips finished runs"),
    (["evaluate", "runs/x"], "evaluate", None),  # trains nothing: it used to offer `shadowplay resume` too
    (["sample", "runs/x"], "sample", None),
])
def test_ctrl_c_hints_at_resuming_only_after_training(monkeypatch, capsys, command, api_name, hint):
    from shadowplay import api
    from shadowplay.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, api_name, interrupted)
    assert main(command) == 130
    err = capsys.readouterr().err
    assert err == "interrupted\n" if hint is None else err.startswith("interrupted; ") and hint in err


@pytest.mark.parametrize("args, line", [
    (["train", "--modle", "vae"], "shadowplay train: error: unrecognized arguments: --modle; did you mean --model?"),
    (["debias", "train", "--alhpa", "3"], "shadowplay debias train: error: unrecognized arguments: --alhpa; "
                                          "did you mean --alpha?"),
    (["evaluate", "r", "trainer.lr=3"], "shadowplay evaluate: error: unrecognized arguments: trainer.lr=3 ("),
])
def test_a_misspelt_option_names_its_command_and_the_closest_option(capsys, args, line):
    # this printed the top-level usage (`shadowplay [-h] [--version] [--debug] COMMAND ...`), then the error
    from shadowplay.cli import main
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(line), err


def test_no_help_page_shows_a_python_keyword_s_dest_as_metavar():
    # `traverse --help` read "--range RANGE_" (the dest range_ that keeps clear of the builtin)
    import argparse
    import re

    from shadowplay.cli import build_parser

    def pages(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from pages(child)
    for p in pages(build_parser()):
        assert not re.search(r"\b[A-Z][A-Z_]*_\b", p.format_help()), p.prog


def test_every_command_s_help_page_says_what_it_does():
    # `shadowplay resume --help` and `info --help` began with the usage and went straight to the arguments
    import argparse

    from shadowplay.cli import build_parser

    def pages(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield child
                    yield from pages(child)
    for p in pages(build_parser()):
        assert p.description, p.prog


def test_train_help_lists_every_built_in_data_source():
    # it named digits, fashion-mnist and dsprites, not the other three a user can train on
    from shadowplay.cli import build_parser
    from shadowplay.data.registry import source_names
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    data_help = next(a.help for a in sub.choices["train"]._actions if a.dest == "data")
    assert all(name in data_help for name in source_names()) and len(source_names()) >= 6


@pytest.mark.parametrize("args, last", [
    (["train", "--likelihood", "gauss"], "did you mean 'gaussian'?"),
    (["trian"], "did you mean 'train'?"),
    (["outliers", "fit", "--score", "elbbo"], "did you mean 'elbo'?"),
    (["info"], "the following arguments are required: run"),
    (["debias"], "the following arguments are required: {train,audit,compare}"),  # printed the top-level help
])
def test_a_usage_error_is_one_line_without_the_usage_block(capsys, args, last):
    # argparse printed its whole usage (15 lines for train) above the error
    from shadowplay.cli import main
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "usage:" not in err[0] and err[0].endswith(last), err


def test_train_help_gives_the_defaults_of_epochs_and_lr():
    # both read as if they had no default ("passes over the training split", "learning rate"); the README's
    # defaults table says what they are
    from shadowplay.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub.choices["train"]._actions}
    assert "30, or enough for 1,000 steps" in helps["epochs"] and "preset's, Adam 1e-3" in helps["lr"]


def test_no_option_states_its_default_twice():
    # `outliers fit --help`: "--score ... (default combined: reconstruction and ...) (default combined)"
    import argparse

    from shadowplay.cli import build_parser

    def options(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from options(child)
            elif action.help:
                yield parser.prog, action.dest, action.help
    import re
    said = {(prog, dest): re.findall(r"\(default:? ([\w.]+)", text) for prog, dest, text in options(build_parser())}
    twice = [key for key, values in said.items() if len(values) != len(set(values))]
    assert not twice
