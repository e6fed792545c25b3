"""Every `shadowplay …` command in the README runs and does what the README says it does (issue 9: the Quickstart
trained a model that learned nothing and its pictures came from another command).

The commands are read from the README itself: code-block lines that start with ``.venv/bin/shadowplay`` and every
backticked ``shadowplay …`` span. Each one must have an entry in ``CHECKS`` (so a new README command needs a check
here); the entry adds arguments that only shorten the run (fewer epochs or steps, fewer importance samples, smaller
metric budgets) and checks the README's claim. ``runs/<run>`` is the shortened Quickstart run.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shadowplay.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
QUICKSTART = ("shadowplay train --data digits --model beta_vae --beta 4 --latent-dim 8 --likelihood gaussian "
              "model.scale=0.1 --epochs 100")
# Syntax descriptions, not commands (placeholders such as "key=value ..." are not runnable).
SYNTAX = {"shadowplay train --config my.yaml key=value ...", "shadowplay --debug train …", "shadowplay train --debug …",
          "shadowplay train --data <yours>"}
METRIC_BUDGET = json.dumps({"factor_vae": {"n_train": 40, "n_eval": 20, "n_variance_estimate": 200, "batch_size": 16},
                            "beta_vae": {"n_train": 40, "n_eval": 20, "batch_size": 16}, "dci": {"n_estimators": 3}})


def readme_commands() -> set[str]:
    text = README.read_text()
    found, block = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            block = not block
        elif block and line.startswith(".venv/bin/shadowplay "):
            found.add(line.split("#")[0].strip()[len(".venv/bin/"):])
    found |= {m.strip() for m in re.findall(r"`(shadowplay [^`]+)`", text)}
    return found - SYNTAX


def _shortened(cmd: str) -> list[str]:
    """The README command with the shortening a test can afford: Quickstart-size epochs become 20."""
    args = shlex.split(cmd)[1:]
    return [("20" if a == "100" and i and args[i - 1] == "--epochs" else a) for i, a in enumerate(args)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder where the Quickstart ran (shortened to 20 epochs), with the files other README commands name."""
    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    (root / "my_images").mkdir()
    for i in range(40):  # a user's folder of small RGB pictures
        a = np.zeros((16, 16, 3), np.uint8) + rng.integers(0, 100, 3, dtype=np.uint8)
        r, c = rng.integers(0, 10, 2)
        a[r:r + 6, c:c + 6] = rng.integers(120, 255, 3, dtype=np.uint8)
        Image.fromarray(a).save(root / "my_images" / f"{i}.png")
    yaml_block = re.search(r"```yaml\n(.*?)```", README.read_text(), re.S).group(1)  # the README's my.yaml
    (root / "my.yaml").write_text(yaml_block)
    np.save(root / "other.npy", rng.random((20, 1, 8, 8)).astype(np.float32))  # other data of the same shape
    (root / "study.yaml").write_text(
        "base: {data: {source: digits, n_samples: 200}, model: {hidden: [16]}, trainer: {max_steps: 3}}\n"
        "models: [{preset: vae}]\nseeds: [0, 1]\nmetrics: []\nevaluation: {iw_samples: 2}\n")
    return root


def _run(world: Path, monkeypatch, capsys, args: list[str]) -> str:
    monkeypatch.chdir(world)
    rc = main(args)
    out = capsys.readouterr()
    assert rc == 0, f"shadowplay {' '.join(args)} exited {rc}: {out.err}"
    return out.out


def _run_folder(world: Path, prefix: str) -> Path:
    found = sorted((world / "runs").glob(f"{prefix}*"))
    assert found, f"no run folder runs/{prefix}*"
    return found[-1]


def test_every_readme_command_has_a_check():
    assert QUICKSTART in readme_commands()
    missing = readme_commands() - set(CHECKS)
    assert not missing, f"README commands without a check in tests/test_readme.py: {sorted(missing)}"


def test_quickstart_learns_and_says_so(world, monkeypatch, capsys):
    out = _run(world, monkeypatch, capsys, _shortened(QUICKSTART) + ["--no-progress", "--name", "quickstart"])
    run = world / "runs" / "quickstart"
    latents = json.loads((run / "run.json").read_text())["latents"]
    assert latents["n_active"] >= 3 and latents["kl_total"] > 3 and not latents["collapsed"]
    assert f"latents: {latents['n_active']} of 8 active" in out and "warning:" not in out
    for name in ("samples.png", "reconstructions.png", "metrics.jsonl", "config.yaml"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").iterdir()) and list((run / "checkpoints").glob("step-*.safetensors"))
    samples = np.asarray(Image.open(run / "samples.png").convert("L"), np.float64)
    tiles = [samples[2 + 82 * r: 80 + 82 * r, 2 + 82 * c: 80 + 82 * c] for r in range(2) for c in range(2)]
    assert max(np.abs(t - tiles[0]).mean() for t in tiles[1:]) > 1, "the samples are all the same picture"


def _quickstart(world: Path) -> Path:
    run = world / "runs" / "quickstart"
    if not (run / "run.json").is_file():
        pytest.skip("needs test_quickstart_learns_and_says_so first")
    return run


def _check(cmd: str):
    def deco(fn):
        CHECKS[cmd] = fn
        return fn
    return deco


CHECKS: dict[str, object] = {QUICKSTART: None}


@_check("shadowplay train --data fashion-mnist --model vae --net conv --epochs 5")
def _fmnist(world, run, out):
    assert "run folder: runs/vae-fashion-mnist" in out
    assert json.loads((_run_folder(world, "vae-fashion-mnist") / "run.json").read_text())["data"]["shape"] == \
        [1, 28, 28]


_fmnist.extra = ["data.n_samples=300", "trainer.max_steps=2", "model.channels=[8]"]


@_check("shadowplay train --data my_images/")
def _images(world, run, out):
    meta = json.loads((_run_folder(world, "vae-my_images") / "run.json").read_text())
    assert meta["data"]["shape"] == [3, 16, 16] and "latents" in meta


_images.extra = ["trainer.max_steps=3", "model.channels=[8]"]


@_check("shadowplay train")
def _bare(world, run, out):
    cfg = (_run_folder(world, "vae-digits") / "config.yaml").read_text()
    assert "epochs: 84" in cfg  # the auto default on digits: 1,437 training images, 12 steps an epoch


_bare.extra = ["trainer.max_steps=3"]


@_check("shadowplay train --data digits --likelihood gaussian --lr 3e-4 --batch-size 64 --deterministic")
def _flags(world, run, out):
    cfg = (_run_folder(world, "vae-digits") / "config.yaml").read_text()
    assert "lr: 0.0003" in cfg and "batch_size: 64" in cfg and "deterministic: true" in cfg
    assert "likelihood: gaussian" in cfg


_flags.extra = ["trainer.max_steps=3"]


@_check("shadowplay train --data dsprites --model factor_vae --tc-weight 20")
def _factor(world, run, out):
    cfg = (_run_folder(world, "factor_vae-dsprites") / "config.yaml").read_text()
    assert "tc_weight: 20" in cfg


_factor.extra = ["data.n_samples=200", "trainer.max_steps=2", "model.channels=[8]"]


@_check("shadowplay evaluate runs/<run> --data other.npy --checkpoint last")
def _other(world, run, out):
    assert out.startswith("scored 20 rows of other.npy (all rows)")  # every row of a new file, by the last checkpoint


_other.extra = ["--iw-samples", "5"]


@_check("shadowplay train --config my.yaml trainer.lr=3e-4 model.latent_dim=16")
def _config(world, run, out):
    cfg = (_run_folder(world, "beta_vae-fashion-mnist") / "config.yaml").read_text()
    assert "lr: 0.0003" in cfg and "latent_dim: 16" in cfg and "warmup_steps: 2000" in cfg


_config.extra = ["data.n_samples=300", "trainer.max_steps=2", "model.channels=[8]"]


@_check("shadowplay resume runs/<run>")
def _resume(world, run, out):
    assert "steps 264, epochs 22" in out  # continued from step 240 to the new budget of 22 epochs of 12 steps


_resume.extra = ["trainer.epochs=22"]


@_check("shadowplay sample runs/<run> -n 64 -o samples.png")
def _sample(world, run, out):
    im = Image.open(world / "samples.png")
    assert im.size[0] > 8 * 8 and im.size[0] == im.size[1]  # an 8 × 8 grid of 64 samples


@_check("shadowplay reconstruct runs/<run> -o recon.png")
def _reconstruct(world, run, out):
    assert (world / "recon.png").stat().st_size > 500


@_check("shadowplay info runs/<run>")
def _info(world, run, out):
    assert "(finished)" in out and re.search(r"latents  [1-8] of 8 active", out)


@_check("shadowplay presets")
def _presets(world, run, out):
    assert "beta_vae" in out and "factor_vae" in out


@_check("shadowplay evaluate runs/<run> --split test --iw-samples 1000")
def _evaluate(world, run, out):
    assert "log p(x), IWAE K=" in out and "active units" in out


_evaluate.replace = {"1000": "50"}


@_check("shadowplay traverse runs/<run> --dims all --range 3 --steps 11 --mode prior")
def _traverse(world, run, out):
    assert (run / "traversals" / "prior-prior-mean" / "overview.png").is_file()


@_check("shadowplay traverse runs/<run> --mode posterior-quantile --inputs 17")
def _traverse_input(world, run, out):
    assert (run / "traversals" / "posterior-quantile-input-17" / "overview.png").is_file()


@_check("shadowplay interpolate runs/<run> --start 3 --end 42 --steps 10 --path slerp")
def _interpolate(world, run, out):
    assert (run / "interpolations" / "3-42-slerp.png").is_file()


@_check("shadowplay report runs/<run>")
def _report(world, run, out):
    html = (run / "report.html").read_text()
    assert "importance samples" in html and "<img" in html


@_check("shadowplay evaluate runs/<run> --metrics all")
def _metrics(world, run, out):
    # the Quickstart's digits have no factors: the README says "(data with factors)"; the note says why none ran
    assert "no ground-truth factors" in out


_metrics.extra = ["--iw-samples", "2", "--metric-options", METRIC_BUDGET]


@_check("shadowplay study study.yaml --jobs 2")
def _study(world, run, out):
    assert len((world / "study" / "results.csv").read_text().splitlines()) == 3  # header + 2 seeds



@_check("shadowplay explore runs/<run>")
def _explore(world, run, out):
    # the command serves until Ctrl-C; its API function (what it wraps) returns the running server instead
    import urllib.request

    import shadowplay as sp
    server = sp.explore(run, open_browser=False)
    try:
        with urllib.request.urlopen(server.url, timeout=60) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.close()


_explore.in_python = True


DEBIAS_TRAIN = "shadowplay debias train --data biased-fmnist --rare-fraction 0.005 --alpha 0.3 --bins 10 --combine product"
DEBIAS_SHORT = ["data.n_samples=600", "trainer.max_steps=3", "--epochs", "1", "--net", "mlp", "model.hidden=[16]",
                "--latent-dim", "3", "--name", "dbvae", "--no-progress"]


def _dbvae(world: Path) -> tuple[Path, str]:
    """The README's DB-VAE training command, shortened, run once in ``world``; its folder and output."""
    import contextlib
    import io
    import os
    run = world / "runs" / "dbvae"
    out = io.StringIO()
    if not (run / "run.json").is_file():
        cwd = os.getcwd()
        os.chdir(world)
        try:
            with contextlib.redirect_stdout(out):
                assert main(shlex.split(DEBIAS_TRAIN)[1:] + DEBIAS_SHORT) == 0
        finally:
            os.chdir(cwd)
    return run, out.getvalue()


def _in_world(world: Path, args: list[str]) -> str:
    import contextlib
    import io
    import os
    out, cwd = io.StringIO(), os.getcwd()
    os.chdir(world)
    try:
        with contextlib.redirect_stdout(out):
            assert main(args) == 0, args
    finally:
        os.chdir(cwd)
    return out.getvalue()


@_check(DEBIAS_TRAIN)
def _debias_train(world, run, out):
    dbvae, printed = _dbvae(world)
    assert (dbvae / "debias" / "weights.png").is_file() and (dbvae / "checkpoints").is_dir()


@_check("shadowplay debias audit runs/<run> --groups group")
def _debias_audit(world, run, out):
    _dbvae(world)
    printed = _in_world(world, ["debias", "audit", "runs/dbvae", "--groups", "group"])
    assert "positive-inverted" in printed and (world / "runs" / "dbvae" / "debias" / "audit-test.json").is_file()


@_check("shadowplay debias compare runs/<plain> runs/<dbvae>")
def _debias_compare(world, run, out):
    _dbvae(world)
    printed = _in_world(world, ["debias", "compare", "runs/dbvae"])
    assert "| dbvae |" in printed and (world / "runs" / "debias-compare" / "compare.png").is_file()


for _fn in (_debias_train, _debias_audit, _debias_compare):
    _fn.in_python = True


@_check("shadowplay embed runs/<run> --data new.npy -o codes.csv --logvar")
def _embed_codes(world, run, out):
    rows = (world / "codes.csv").read_text().splitlines()
    assert rows[0].startswith("index,z0,") and "logvar7" in rows[0] and len(rows) == 21  # other.npy: 20 inputs
    assert "codes of 20 inputs, 8 latents" in out


_embed_codes.replace = {"new.npy": "other.npy"}  # the world's data of the run's shape


@_check("shadowplay embed runs/<run> --map tsne -o map.png")
def _embed_map(world, run, out):
    assert out.startswith("tsne map of") and "labelled" in out  # the digits test split has labels
    assert Image.open(world / "map.png").size[0] > 400


ORDERED = [c for c in CHECKS if c != QUICKSTART]


@pytest.mark.parametrize("cmd", ORDERED)
def test_readme_command(cmd, world, monkeypatch, capsys):
    if ("fashion-mnist" in cmd or "debias" in cmd) and not FMNIST.is_file():  # biased-fmnist reads it too
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    if cmd not in readme_commands():
        pytest.skip("no longer in the README")
    run = _quickstart(world)
    check = CHECKS[cmd]
    if getattr(check, "in_python", False):
        return check(world, run, "")
    text = cmd.replace("runs/<run>", f"runs/{run.name}")
    for old, new in getattr(check, "replace", {}).items():
        text = text.replace(old, new)
    args = shlex.split(text)[1:] + list(getattr(check, "extra", []))
    if args[0] in ("train", "resume", "evaluate", "report") and "--no-progress" not in args:
        args.append("--no-progress")
    if args[0] == "train" and "--name" not in args:
        time.sleep(1.1)  # default run names carry the time to the second; two quick runs must not share one
    check(world, run, _run(world, monkeypatch, capsys, args))
