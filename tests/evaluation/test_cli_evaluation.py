"""`shadowplay evaluate | traverse | interpolate` on a tiny trained run: files written, what they hold, and one
clear line with exit status 2 for every bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from shadowplay import api
from shadowplay.cli import main


def test_evaluate_writes_table_json_and_per_sample_arrays(vae_run, run_cli):
    r = run_cli(vae_run.parent, ["evaluate", str(vae_run), "--iw-samples", "20"])
    assert r.returncode == 0, r.stderr
    assert "log p(x), IWAE K=20" in r.stdout and "active units" in r.stdout
    out = vae_run / "evaluation"
    doc = json.loads((out / "evaluation.json").read_text())
    assert doc["split"] == "test" and doc["iw_samples"] == 20 and doc["n_inputs"] == 180
    lk = doc["likelihood"]
    assert lk["log_px"] >= lk["elbo"] and lk["elbo"] == pytest.approx(lk["recon_ll"] - lk["kl"])
    assert len(doc["diagnostics"]["kl_per_dim"]) == 4 and len(doc["worst_inputs"]) == 8
    table = np.load(out / "per_sample.npy")
    assert table.shape == (180,)
    assert set(table.dtype.names) == {"index", "recon_ll", "kl", "elbo", "log_px", "bits_per_dim",
                                      "recon_sq_error", "label"}
    assert table["log_px"].mean() == pytest.approx(lk["log_px"])
    rows = list(csv.DictReader(open(out / "per_sample.csv")))
    assert len(rows) == 180 and float(rows[3]["elbo"]) == pytest.approx(table["elbo"][3], abs=1e-5)
    assert (out / "worst_reconstructions.png").is_file()


def test_traverse_and_interpolate_write_pictures(vae_run, run_cli, capsys):
    r = run_cli(vae_run.parent, ["traverse", str(vae_run), "--dims", "top2", "--steps", "5", "--mode",
                                 "posterior-quantile", "--input", "17", "3"])
    assert r.returncode == 0, r.stderr
    folder = vae_run / "traversals" / "posterior-quantile-input-17-3"
    meta = json.loads((folder / "traversal.json").read_text())
    kl = np.array(meta["kl_per_dim"])
    assert meta["dims"] == np.argsort(-kl, kind="stable")[:2].tolist()
    assert np.array(meta["values"]).shape == (2, 5) and len(meta["base_codes"]) == 2
    assert {p.name for p in folder.iterdir()} == {f"dim-{d:02d}.png" for d in meta["dims"]} | {
        "overview.png", "traversal.gif", "traversal.json"}
    assert main(["interpolate", str(vae_run), "--from", "3", "--to", "42", "--steps", "6", "--path", "linear"]) == 0
    assert Path(capsys.readouterr().out.strip()) == vae_run / "interpolations" / "3-42-linear.png"
    from PIL import Image
    img = Image.open(vae_run / "interpolations" / "3-42-linear.png")
    assert img.size == (8 * (8 * 10 + 2), 8 * 12 + 20)  # a row of 8 tiles (input, 6 codes, input), 8 px, 2 px pad,
    # ×8, under a 20-px strip naming each column: the inputs, then t (the picture had no label before)
    assert min(img.convert("L").crop((0, 0, img.width, 20)).getdata()) < 100


def test_traverse_all_modes_through_the_api(vae_run):
    for mode in ("prior", "fixed", "minmax"):
        res = api.traverse(vae_run, dims="all", steps=3, mode=mode, write=False)
        assert res.traversal.images.shape == (1, 4, 3, 1, 8, 8) and res.path is None


def test_traverse_again_with_fewer_dims_leaves_no_stale_pictures(vae_run):
    first = api.traverse(vae_run, dims="all", steps=3, mode="fixed")
    assert len(list(first.path.glob("dim-*.png"))) == 4
    again = api.traverse(vae_run, dims="top1", steps=3, mode="fixed")  # into the same folder
    assert again.path == first.path
    # the three other dims' pictures of the first run used to stay beside the new overview
    assert sorted(p.name for p in again.path.glob("dim-*.png")) == [f"dim-{again.traversal.dims[0]:02d}.png"]


@pytest.mark.parametrize("args, message", [
    (["evaluate", "{tmp}"], "is not a shadowplay run folder"),
    (["evaluate", "{run}", "--iw-samples", "0"], "--iw-samples must be an integer >= 1"),
    (["evaluate", "{run}", "--data", "{bigger}"], "have inputs of shape (1, 28, 28) but this model takes (1, 8, 8)"),
    (["traverse", "{run}", "--dims", "0,9"], "latent dimension 9 is out of range; this model has 4"),
    (["traverse", "{run}", "--input", "180"], "input index 180 is out of range: the test split has 180 inputs"),
    (["traverse", "{run}", "--range", "-1"], "--range > 0"),
    (["interpolate", "{run}", "--from", "0", "--to", "-1"], "input index -1 is out of range"),
    # these were tracebacks (exit status 1); sample -o x.txt only failed after drawing the samples
    (["evaluate", "{run}", "--max-rows", "0", "-k", "1"], "--max-rows must be an integer >= 1, got 0"),
    (["evaluate", "{run}", "--max-rows", "-5", "-k", "1"], "--max-rows must be an integer >= 1, got -5"),
    (["sample", "{run}", "-o", "{tmp}/x.txt"], ".tif, .tiff, .pdf or .npy, not '.txt'"),
    (["sample", "{run}", "-o", "{tmp}/x"], "not '(no suffix)'"),
    (["reconstruct", "{run}", "-o", "{tmp}/x.txt"], ".tiff or .pdf, not '.txt'"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "-o", "{tmp}/x.bmp"], "not '.bmp'"),
    (["traverse", "{run}", "--dims", "1,1"], "latent dimension 1 is given 2 times in --dims 1,1"),
    (["evaluate", "{run}", "--split", "all"], "--split all scores every row of the data given with --data"),
    # a bare "[Errno 2] No such file or directory" after the samples were drawn
    (["sample", "{run}", "-o", "{tmp}/no/s.png"], "the folder of -o"),
    (["reconstruct", "{run}", "-o", "{tmp}/no/r.npy"], "not '.npy'"),
    (["reconstruct", "{run}", "-o", "{tmp}/no/r.png"], "does not exist: create"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "-o", "{tmp}/no/i.png"], "the folder of -o"),
])
def test_bad_input_is_one_line_and_exit_status_2(vae_run, tmp_path, tiny_images, capsys, args, message):
    subst = {"{run}": str(vae_run), "{tmp}": str(tmp_path), "{bigger}": str(tiny_images)}
    assert main([subst.get(a, a).replace("{tmp}", str(tmp_path)) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and message in err, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_wrong_output_type_is_refused_before_sampling(vae_run, tmp_path, monkeypatch, capsys):
    from shadowplay.model import LatentVariableModel

    def no_drawing(*a, **k):
        raise AssertionError("sampled before checking -o")
    monkeypatch.setattr(LatentVariableModel, "sample", no_drawing)
    assert main(["sample", str(vae_run), "-n", "5000", "-o", str(tmp_path / "x.txt")]) == 2
    assert "-o must end in" in capsys.readouterr().err


def test_wrong_output_type_from_a_real_process(vae_run, run_cli, tmp_path):
    r = run_cli(tmp_path, ["sample", str(vae_run), "-o", "x.txt"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == ("error: -o must end in .png, .jpg, .jpeg, .gif, .webp, .tif, .tiff, .pdf or .npy, "
                                "not '.txt': x.txt")


@pytest.fixture(scope="module")
def real_valued(tmp_path_factory) -> Path:
    """Digit-shaped inputs ``(1, 8, 8)`` with values in [0, 16] (unscaled digits)."""
    path = tmp_path_factory.mktemp("real") / "unscaled.npy"
    np.save(path, (np.random.default_rng(0).random((50, 1, 8, 8)) * 16).astype(np.float32))
    return path


@pytest.mark.parametrize("command", [["evaluate", "-k", "1"], ["reconstruct"], ["traverse", "--steps", "3"],
                                     ["interpolate", "--from", "0", "--to", "1"]])
def test_a_bernoulli_run_refuses_data_outside_0_1(vae_run, real_valued, capsys, command):
    # the run's likelihood is Bernoulli (digits in [0, 1]); data in [0, 16] gave ELBOs of impossible values
    assert json.loads((vae_run / "run.json").read_text())["model_spec"]["likelihood"] == "bernoulli"
    before = sorted(p.relative_to(vae_run) for p in vae_run.rglob("*"))
    assert main([command[0], str(vae_run), "--data", str(real_valued), *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: a Bernoulli likelihood needs data in [0, 1]; the data") and "unscaled.npy" in err
    assert "This run's model has one" in err
    assert sorted(p.relative_to(vae_run) for p in vae_run.rglob("*")) == before


def test_a_bernoulli_run_refuses_it_through_the_api_too(vae_run, real_valued):
    from shadowplay.errors import DataError
    with pytest.raises(DataError, match="Bernoulli likelihood needs data in"):
        api.evaluate(vae_run, data=str(real_valued), split="all", iw_samples=1, write=False)
    with pytest.raises(DataError, match="Bernoulli likelihood needs data in"):
        api.reconstruct(vae_run, data=str(real_valued), write=False)


def test_bad_input_exit_status_from_a_real_process(vae_run, run_cli):
    r = run_cli(vae_run.parent, ["traverse", str(vae_run), "--dims", "12"])
    assert r.returncode == 2 and r.stderr.strip().startswith("error: latent dimension 12 is out of range")


def test_metrics_need_ground_truth_factors(vae_run):
    with pytest.raises(ValueError, match="need ground-truth factors"):
        api.evaluate(vae_run, iw_samples=2, metrics=["mig"], write=False)


def test_autoencoder_evaluation_says_why_it_reports_reconstruction_only(ae_run, capsys):
    assert main(["evaluate", str(ae_run), "--iw-samples", "3", "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "reconstruction" in out and "IWAE" not in out and "autoencoder" in out
    doc = json.loads((ae_run / "evaluation" / "evaluation-val.json").read_text())
    assert "log_px" not in doc["likelihood"] and doc["diagnostics"]["kl_per_dim"] is None
    assert set(np.load(ae_run / "evaluation" / "per_sample-val.npy").dtype.names) == {
        "index", "recon_ll", "recon_sq_error", "label"}


def test_evaluate_other_data_of_the_same_shape(vae_run, tiny_flat):
    ev = api.evaluate(vae_run, iw_samples=5, data=str(tiny_flat), split="test")
    assert ev.document["data"] == "blocks8" and ev.document["n_inputs"] == 32  # the file's own 10 % test split
    assert {p.name for p in ev.files} == {"evaluation-blocks8-test.json", "per_sample-blocks8-test.npy",
                                          "per_sample-blocks8-test.csv", "worst_reconstructions-blocks8-test.png"}
    assert np.load(vae_run / "evaluation" / "per_sample-blocks8-test.npy").shape == (32,)


def test_evaluate_scores_every_row_of_a_new_file_by_default(vae_run, tiny_flat, capsys):
    # a file given to evaluate is new data: all 320 rows are held out (only its 10 % test split, 32, were scored)
    assert main(["evaluate", str(vae_run), "--data", str(tiny_flat), "-k", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scored 320 rows of blocks8.npy (all rows), K = 2"), out
    doc = json.loads((vae_run / "evaluation" / "evaluation-blocks8-all.json").read_text())
    assert doc["split"] == "all" and doc["n_inputs"] == 320
    table = np.load(vae_run / "evaluation" / "per_sample-blocks8-all.npy")
    assert table.shape == (320,) and table["index"].tolist() == list(range(320))
    # in file order: row i's score is the score of the file's row i, whatever the split
    test = api.evaluate(vae_run, iw_samples=2, data=str(tiny_flat), split="test", write=False, progress=False)
    from shadowplay.data import split_rows
    rows = split_rows(320, 0.1, 0.1, 0, "blocks8")["test"].numpy()
    np.testing.assert_allclose(table["recon_sq_error"][rows], test.recon_sq_error, rtol=1e-5)
    for split, n in (("train", 256), ("val", 32)):
        ev = api.evaluate(vae_run, iw_samples=1, data=str(tiny_flat), split=split, write=False, progress=False)
        assert ev.document["n_inputs"] == n and ev.document["split"] == split


def test_evaluate_of_the_run_s_own_file_keeps_the_test_split(tmp_path, tiny_flat, capsys):
    # all rows of the file the run was trained on would score its training rows: the default stays test
    run = api.train(data=str(tiny_flat), latent_dim=2, runs_dir=tmp_path, name="own", progress=False,
                    overrides={"trainer.max_steps": 2, "model.hidden": [8]}).path
    assert main(["evaluate", str(run), "--data", str(tiny_flat), "-k", "1", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("scored 32 rows of blocks8.npy (test split)")
    ev = api.evaluate(run, iw_samples=1, data=str(tiny_flat), split="all", write=False, progress=False)
    assert ev.document["n_inputs"] == 320  # asked for: every row, training rows included
    assert api.evaluate(run, iw_samples=1, write=False, progress=False).document["n_inputs"] == 32


def test_evaluate_shows_progress_with_the_time_left(vae_run, run_cli):
    # issue 9 item 6: K = 1000 on 64x64 images ran at ~1 input/s with no sign of life
    r = run_cli(vae_run.parent, ["evaluate", str(vae_run), "--iw-samples", "50", "--split", "val"])
    assert r.returncode == 0, r.stderr
    assert "log p(x), K=50" in r.stderr and "input" in r.stderr and "<" in r.stderr  # tqdm: elapsed<remaining
    quiet = run_cli(vae_run.parent, ["evaluate", str(vae_run), "-k", "5", "--split", "val", "--no-progress"])
    assert quiet.returncode == 0 and "log p(x)" not in quiet.stderr


def test_iw_samples_fit_the_time_budget(vae_run):
    from shadowplay.evaluation import iw_samples_for_budget
    from shadowplay.run import open_run
    model = api.load(vae_run)
    x = api.load_splits(open_run(vae_run).config).test.x
    assert iw_samples_for_budget(model, x, 1e-9) == 1          # nothing fits: the cheapest
    assert iw_samples_for_budget(model, x[:4], 1e9) == 1000     # everything fits: the literature's K
    k = iw_samples_for_budget(model, x, 1.0)
    assert k in (1000, 300, 100, 30, 10, 1)


def test_report_chooses_k_for_a_minute_and_says_so(vae_run, tmp_path):
    import shutil
    run = tmp_path / "r"
    shutil.copytree(vae_run, run)
    shutil.rmtree(run / "evaluation", ignore_errors=True)
    page = api.report(run)
    doc = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert doc["iw_samples"] in (1000, 300, 100, 30, 10, 1) and "budget" in doc["iw_samples_choice"]
    assert doc["seconds"] < 60
    html = page.read_text()
    assert f"K = {doc['iw_samples']} importance samples (chosen to fit a 40 s budget" in html


def test_a_misspelt_metric_is_unknown_not_missing_factors(vae_run, capsys):
    # issue 9 item 7: `--metrics mgi` on data without factors said the metric needs factors
    assert main(["evaluate", str(vae_run), "--metrics", "mgi", "-k", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'mgi' (did you mean 'mig'?)" in err and "factors" not in err


def test_sample_too_many_for_a_picture_says_so_and_npy_holds_them(vae_run, tmp_path, capsys):
    # issue 9 item 7: `sample -n 100000` wrote a PNG too large for Pillow to open again
    assert main(["sample", str(vae_run), "-n", "100000", "-o", str(tmp_path / "big.png")]) == 2
    err = capsys.readouterr().err
    assert "more than Pillow opens again" in err and "-o samples.npy" in err
    assert not (tmp_path / "big.png").exists()
    assert main(["sample", str(vae_run), "-n", "3000", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (3000, 1, 8, 8)
    from PIL import Image

    from shadowplay.reports.images import check_grid, grid_size
    fits = int(err.split("(-n ")[1].split(")")[0])
    check_grid(fits, 8, 8)  # the advice is a size that works
    w, h = grid_size(fits, 8, 8)
    assert w * h <= Image.MAX_IMAGE_PIXELS


def test_reconstruct_many_inputs_draws_rows_of_pairs(vae_run, tmp_path, capsys):
    # reconstruct -n 100000 drew the 180 test inputs in one row above their reconstructions: 14,416 x 176 px
    from PIL import Image
    assert main(["reconstruct", str(vae_run), "-n", "100000", "-o", str(tmp_path / "r.png")]) == 0
    from shadowplay.reports.images import label_width
    margin = label_width(["input", "reconstruction"])  # the rows' labels, left of the grid
    assert Image.open(tmp_path / "r.png").size == (1536 + margin, 1616)  # 19 pairs a row, 10 rows of pairs
    many = tmp_path / "many.npy"
    np.save(many, np.random.default_rng(0).random((20000, 1, 8, 8)).astype(np.float32))
    assert main(["reconstruct", str(vae_run), "--data", str(many), "--split", "train", "-n", "100000",
                 "-o", str(tmp_path / "big.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: a picture of 16,000 inputs of 8x8 with their reconstructions") and "(-n " in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "big.png").exists()


def test_traverse_heads_the_overview_with_the_values_it_sets(vae_run):
    # prior mode: every row takes the same values, so they head the columns (the overview had no value at all)
    from PIL import Image
    res = api.traverse(vae_run, dims="all", steps=3, mode="prior")
    ov = Image.open(res.files["overview"])
    assert ov.height == (4 * 10 + 2) * 8 + 20  # 4 rows of 8-px digits ×8, plus the strip of values
    assert min(ov.convert("L").crop((ov.width // 2, 0, ov.width, 20)).getdata()) < 100


def test_data_on_another_scale_warn_and_non_finite_means_print(tmp_path, capsys):
    # a Gaussian run trained on [0, 1] scored 8-bit-scaled data: the KL overflowed to inf, the means became JSON
    # null and `evaluate` ended in a TypeError traceback (exit status 1) after writing its files
    run = api.train(data="digits", latent_dim=2, likelihood="gaussian", runs_dir=tmp_path, name="g", progress=False,
                    overrides={"trainer.max_steps": 2, "model.hidden": [8], "model.scale": 0.1}).path
    from sklearn.datasets import load_digits
    np.save(tmp_path / "big.npy", (load_digits().images[:20] * 1e6).astype(np.float32).reshape(20, 1, 8, 8))
    assert main(["evaluate", str(run), "--data", str(tmp_path / "big.npy"), "-k", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "this run was trained on values in [0, 1]" in out and "the data span [0, 1.6e+07]" in out
    assert "inputs have scores that are not finite" in out and "not finite" in out.split("ELBO")[1].splitlines()[0]


def test_the_table_says_what_plus_minus_is_and_keeps_three_digits(capsys):
    # "± 2 nats" beside "± 1.99 nats" (.3g drops trailing zeros), with nothing saying ± was a standard error
    from types import SimpleNamespace

    from shadowplay.cli import _show_evaluation
    doc = {"n_inputs": 180, "source": "digits", "split": "test", "iw_samples": 10, "checkpoint": "best",
           "inputs_per_s": 100.0, "device": "cpu", "diagnostics": {"n_active": 1, "active": [True], "warnings": []},
           "likelihood": {"elbo": 21.27, "elbo_sem": 1.9959, "recon_sq_error": 0.95, "recon_sq_error_sem": 0.03}}
    _show_evaluation(SimpleNamespace(document=doc, files=[]), SimpleNamespace())
    out = capsys.readouterr().out
    assert "± standard error" in out and "± 2.00 nats" in out and "± 0.0300\n" in out


def test_some_inactive_latents_are_a_note_as_in_train_and_a_collapse_a_warning(vae_run, monkeypatch, capsys):
    # the Quickstart's β-VAE (6 of 8 active: "β = 4 switches off the latents the digits do not need") trained
    # without a warning, then `evaluate` and `report` warned "partial posterior collapse"
    import shadowplay.api.inspect as inspect_module
    from shadowplay.evaluation.diagnostics import PosteriorMoments, summarize_latents

    def moments(kl_first: float):
        def fake(m):
            n, dim = m.mean.shape
            mean = np.zeros((n, dim))
            mean[:, 0] = np.random.default_rng(0).normal(size=n)  # one active latent, the others constant
            kl = np.zeros((n, dim))
            kl[:, 0] = kl_first
            return summarize_latents(PosteriorMoments(mean, np.ones((n, dim)), kl))
        return fake
    monkeypatch.setattr(inspect_module, "summarize_latents", moments(1.0))
    assert main(["evaluate", str(vae_run), "-k", "1", "--no-progress", "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "note: 3 of 4 latent dimensions are inactive" in out and "warning:" not in out
    doc = json.loads((vae_run / "evaluation" / "evaluation-train.json").read_text())
    assert doc["diagnostics"]["warnings"] == [] and len(doc["diagnostics"]["notes"]) == 1
    monkeypatch.setattr(inspect_module, "summarize_latents", moments(0.01))  # 0.01 nats in all: collapsed
    assert main(["evaluate", str(vae_run), "-k", "1", "--no-progress", "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "warning: 3 of 4 latent dimensions are inactive" in out and "warning: what to try" in out
