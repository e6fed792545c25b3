"""`shadowplay debias train|audit|compare` end to end on a tiny fake Fashion-MNIST, and bad input.

The commands run in this process through ``shadowplay.cli.main`` (a child process per command costs more in imports
than the tiny runs themselves); ``tests/test_cli.py`` covers the child-process path of the CLI.
"""

import json
from types import SimpleNamespace

import pytest

from shadowplay.cli import main


@pytest.fixture
def cli(capsys):
    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)
    return run

FAST = ["model.hidden=[32]", "trainer.batch_size=32"]


def test_train_audit_compare(cli, tmp_path, fmnist_dir):
    common = ["--data-dir", str(fmnist_dir), "--epochs", "1", "--latent-dim", "3", "--net", "mlp",
              "--runs-dir", str(tmp_path / "runs"), "--rare-fraction", "0.05", "--no-progress", *FAST]
    r = cli("debias", "train", "--name", "db", "--alpha", "0.01", "--bins", "5", "--combine", "product", *common)
    assert r.returncode == 0, r.stderr
    assert "weights.png" in r.stdout
    # did the resampling favour the rare inputs? the draw shares per group, from debias/weights.json
    line = next(s for s in r.stdout.splitlines() if "resampling of class 1 (last epoch): effective inputs" in s)
    assert "positive-inverted" in line and "% (of inputs" in line
    r = cli("debias", "train", "--name", "plain", "--model", "classifier", *common)
    assert r.returncode == 0, r.stderr
    db, plain = tmp_path / "runs" / "db", tmp_path / "runs" / "plain"
    # a classifier alone trains no decoder: no noise pictures from the untrained decoder, no latents line
    assert "samples:" not in r.stdout and "latents:" not in r.stdout and not (plain / "samples.png").exists()
    assert "latents" not in json.loads((plain / "run.json").read_text()) and (db / "samples.png").is_file()
    cfg = (db / "config.yaml").read_text()
    assert "combine: product" in cfg and "resample: latent" in cfg and "rare_fraction: 0.05" in cfg
    assert "resample: none" in (plain / "config.yaml").read_text()
    r = cli("debias", "audit", str(db))
    assert r.returncode == 0, r.stderr
    assert "positive-inverted" in r.stdout and "worst group" in r.stdout
    doc = json.loads((db / "debias" / "audit-test.json").read_text())
    assert [g["n"] for g in doc["groups"]] == [21, 21, 9, 9] and (db / "debias" / "audit-test.png").is_file()
    r = cli("debias", "audit", str(db), "--groups", "latent", "--n-clusters", "3", "--split", "val")
    assert r.returncode == 0, r.stderr
    assert "latent clusters" in r.stdout and (db / "debias" / "audit-val-latent.json").is_file()
    # "cluster 2" alone says nothing: a row of its inputs per cluster, labelled with its accuracy and size
    from PIL import Image
    pic = db / "debias" / "audit-val-latent-clusters.png"
    assert f"what each cluster holds: {pic}" in r.stdout and Image.open(pic).height >= 3 * 28
    r = cli("debias", "audit", str(db), "--groups", "inverted")  # the source names the values: no "group 0/1"
    assert r.returncode == 0 and "| original | 30 |" in r.stdout and "| inverted | 30 |" in r.stdout, r.stdout
    by_attribute = json.loads((db / "debias" / "audit-test-inverted.json").read_text())
    rates = [g["positive_rate"] for g in by_attribute["groups"]]  # P(ŷ = 1 | original), P(ŷ = 1 | inverted)
    # the parity gap is across the sensitive attribute whatever the grouping (it was the spread over the four
    # class × inverted cells, ≈ 1 for any model: the positive cells' rate minus the negative cells')
    for audit_doc in (doc, by_attribute):
        assert audit_doc["demographic_parity_gap"] == pytest.approx(abs(rates[0] - rates[1]))
        assert audit_doc["sensitive_name"] == "inverted"
        assert [s["name"] for s in audit_doc["sensitive"]] == ["original", "inverted"]
    r = cli("debias", "audit", str(db), "--sensitive", "fmnist_class")  # another attribute, its own files
    assert r.returncode == 0 and "gaps across fmnist_class (" in r.stdout, r.stderr
    assert "audit-test-by-fmnist_class.json" in r.stdout and (db / "debias" / "audit-test-by-fmnist_class.md").is_file()
    r = cli("debias", "audit", str(db), "--sensitive", "colour")
    assert r.returncode == 2 and "unknown sensitive attribute 'colour'" in r.stderr
    out = tmp_path / "cmp"
    r = cli("debias", "compare", str(plain), str(db), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "| plain |" in r.stdout and "| db |" in r.stdout
    assert (out / "compare.png").is_file() and (out / "compare.md").read_text().startswith("| run |")
    # where the files went, and how many test inputs each accuracy column rests on
    assert f"files: {out}/compare.md, .png" in r.stdout
    assert "| positive-inverted (n = 9) |" in (out / "compare.md").read_text()


@pytest.mark.parametrize("args,match", [
    (["--alpha", "0"], "alpha"), (["--alpha", "-1"], "alpha"), (["--bins", "1"], "bins"),
    (["--rare-fraction", "0"], "rare_fraction"), (["--rare-fraction", "1"], "rare_fraction"),
    (["--debias-class", "3"], "debiased class 3 is absent"),
])
def test_bad_input_one_line_and_no_run(cli, tmp_path, fmnist_dir, args, match):
    r = cli("debias", "train", "--data-dir", str(fmnist_dir), "--runs-dir", str(tmp_path / "runs"), *args)
    assert r.returncode == 2 and match in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "runs").exists()


def test_audit_of_a_missing_run(cli, tmp_path):
    r = cli("debias", "audit", str(tmp_path / "missing"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_audit_of_a_run_without_a_classifier_says_so_first(cli, tmp_path):
    # it used to advise `--groups latent` for data without groups, which then failed on the missing head
    r = cli("train", "--data", "digits", "--epochs", "1", "--latent-dim", "2", "--runs-dir", tmp_path, "--name", "v",
            "--no-progress", "model.hidden=[16]")
    assert r.returncode == 0, r.stderr
    for groups in ("group", "latent"):
        r = cli("debias", "audit", tmp_path / "v", "--groups", groups)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and "has no classifier (preset vae)" in r.stderr


def test_positive_classes_that_are_not_numbers_are_named(cli, tmp_path):
    r = cli("debias", "train", "--positive-classes", "a,b", "--runs-dir", tmp_path)
    assert r.returncode == 2 and "expected comma-separated class numbers such as 5,7,9, got 'a,b'" in r.stderr
