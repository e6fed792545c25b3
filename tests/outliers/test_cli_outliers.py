"""`shadowplay outliers fit|score|evaluate` end to end on tiny budgets, and their Python twins."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from shadowplay import api
from shadowplay.cli import main
from shadowplay.data import load_data, split_rows
from shadowplay.outliers import VAEOutlierDetector
from shadowplay.run import RunFolder

FAST = ["--epochs", "2", "--latent-dim", "2", "-k", "2", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["outliers", "fit", "--data", "digits", "--normal-class", "0", "--runs-dir", str(runs),
                 "--name", "d0", *FAST]) == 0
    return runs / "d0"


def test_fit_writes_a_detector_run(digits_run):
    meta = json.loads((digits_run / "run.json").read_text())
    assert meta["outliers"]["normal_class"] == 0 and (digits_run / "outliers.safetensors").is_file()
    det = VAEOutlierDetector.from_run(digits_run)
    assert det.outlier_score == "combined" and det.threshold_ == pytest.approx(np.percentile(det.decision_scores_, 90))


def test_score_writes_index_score_flag_rank(digits_run, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["outliers", "score", str(digits_run), "--data", "digits", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["index", "score", "flag", "rank", "label"]
    s = np.array([float(r["score"]) for r in rows])
    ranks = np.array([int(r["rank"]) for r in rows])
    assert sorted(ranks) == list(range(1, len(rows) + 1)) and ranks[np.argmax(s)] == 1
    thr = VAEOutlierDetector.from_run(digits_run).threshold_
    assert [int(r["flag"]) for r in rows] == list((s > thr).astype(int))
    # the Python function with the same keywords gives the same numbers
    np.testing.assert_array_equal(api.outliers_score(digits_run, "digits", output=tmp_path / "p.csv").scores, s)


def test_evaluate_writes_metrics_and_pictures(digits_run, capsys):
    assert main(["outliers", "evaluate", str(digits_run), "--top-k", "12"]) == 0
    printed = capsys.readouterr().out
    assert "AUROC" in printed and "FPR@95%TPR" in printed
    doc = json.loads((digits_run / "outliers" / "evaluation-digits-test.json").read_text())
    assert doc["auroc"] > 0.8 and {"aupr", "fpr_at_95_tpr", "n_normal", "n_anomalous"} <= set(doc)
    for name in ("histogram-digits-test.png", "top_k-digits-test.png"):
        assert (digits_run / "outliers" / name).stat().st_size > 1000


def test_from_run_wraps_a_trained_run_with_a_new_score(tmp_path):
    run = api.train(data="digits", model="vae", latent_dim=2, epochs=1, runs_dir=tmp_path, name="t",
                    progress=False, overrides={"model.hidden": [16], "trainer.device": "cpu"})
    det = VAEOutlierDetector.from_run(run.path, outlier_score="likelihood_ratio", iw_samples=2, epochs=1)
    assert det.background_ is not None and det.decision_scores_.shape == (len(det.labels_),)
    assert not RunFolder(run.path).outliers_state_path.exists()  # reading a run writes nothing into it
    det.save(run.path, overwrite=True)  # keeping the detector is a save
    again = VAEOutlierDetector.from_run(run.path)  # restored, not refitted
    assert again.outlier_score == "likelihood_ratio" and again.threshold_ == det.threshold_


def test_tabular_csv_round_trip(tmp_path):
    g = np.random.default_rng(0)
    x = np.vstack([g.normal(5, 1, (150, 4)), g.normal(5, 1, (15, 4)) + [6, 0, 0, 6]])
    y = np.r_[np.zeros(150, int), np.ones(15, int)]
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "c", "d", "y"])
        w.writerows([[*map(float, r), int(t)] for r, t in zip(x, y)])
    runs = tmp_path / "runs"
    assert main(["outliers", "fit", "--data", str(path), "--label-column", "y", "--normal-class", "0",
                 "--likelihood", "laplace", "--runs-dir", str(runs), "--name", "tab", *FAST]) == 0
    # fitted on the normal rows of the file's seeded train + val parts, as `train --data t.csv` splits it
    parts = split_rows(len(x), 0.1, 0.1, 0)
    fit_rows = np.sort(np.r_[parts["train"].numpy(), parts["val"].numpy()])
    fit_rows = fit_rows[y[fit_rows] == 0]
    det = VAEOutlierDetector.from_run(runs / "tab")
    np.testing.assert_allclose(det.standardize_["mean"], x[fit_rows].mean(0), rtol=1e-5)
    # evaluate remembers the data and the label column, and scores only the test rows the detector never saw, by
    # their row numbers in the file (it used to score every row, the training rows too, and call that "test")
    assert main(["outliers", "evaluate", str(runs / "tab")]) == 0
    doc = json.loads((runs / "tab" / "outliers" / "evaluation-t-test.json").read_text())
    test = parts["test"].numpy()
    assert doc["split"] == "test" and doc["n_anomalous"] == int(y[test].sum()) >= 1
    assert doc["n_normal"] + doc["n_anomalous"] == len(test) and doc["auroc"] > 0.8
    with (runs / "tab" / "outliers" / "scores-t-test.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == test.tolist() and [int(r["label"]) for r in rows] == y[test].tolist()
    # scoring the file scores every row, numbered as in the file
    assert main(["outliers", "score", str(runs / "tab"), "--data", str(path)]) == 0
    with (runs / "tab" / "outliers" / "scores-t-all.csv").open() as fh:
        assert [int(r["index"]) for r in csv.DictReader(fh)] == list(range(len(x)))


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["outliers", "fit", "--data", "digits", "--contamination", "0.7", "--runs-dir", str(tmp_path),
                 *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: contamination must be a fraction in (0, 0.5]") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing left behind
    assert main(["outliers", "score", str(tmp_path / "nope"), "--data", "digits"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_another_score_refits_on_the_fitted_inputs_and_keeps_the_detector(digits_run, tmp_path, capsys):
    # `outliers fit` trains from arrays; a second score used to need X=, which the CLI cannot give, and a score
    # that did refit replaced the saved detector
    saved = (digits_run / "outliers.safetensors").read_bytes()
    assert main(["outliers", "score", str(digits_run), "--data", "digits", "--score", "kl",
                 "-o", str(tmp_path / "kl.csv")]) == 0
    assert "scored with kl" in capsys.readouterr().out
    assert (digits_run / "outliers.safetensors").read_bytes() == saved
    assert VAEOutlierDetector.from_run(digits_run).outlier_score == "combined"
    det = VAEOutlierDetector.from_run(digits_run, outlier_score="kl",
                                      X=api.outliers._normal_inputs("digits", 0, 0, None, None))
    kl = [float(r["score"]) for r in csv.DictReader((tmp_path / "kl.csv").open())]
    np.testing.assert_allclose(kl, det.decision_function(load_data("digits").test.x), rtol=1e-6)
    assert main(["evaluate", str(digits_run)]) == 2  # a plain evaluate needs the data: said in one line
    assert "trained on arrays in memory" in capsys.readouterr().err


def test_score_and_evaluate_split_with_the_seed_the_detector_was_fitted_with(tmp_path):
    runs = tmp_path / "runs"
    assert main(["outliers", "fit", "--data", "digits", "--normal-class", "0", "--seed", "1", "--runs-dir",
                 str(runs), "--name", "s1", *FAST]) == 0
    assert main(["outliers", "evaluate", str(runs / "s1")]) == 0
    rows = list(csv.DictReader((runs / "s1" / "outliers" / "scores-digits-test.csv").open()))
    # the seed-1 test split, not the seed-0 one (most of which is in the seed-1 training split)
    assert [int(r["label"]) for r in rows] == load_data("digits", seed=1).test.labels.tolist()
    assert [int(r["label"]) for r in rows] != load_data("digits", seed=0).test.labels.tolist()


def test_fit_reports_the_latents_and_posterior_collapse(tmp_path, capsys):
    assert main(["outliers", "fit", "--data", "digits", "--normal-class", "0", "--beta", "200", "--runs-dir",
                 str(tmp_path), "--name", "c", *FAST]) == 0
    out = capsys.readouterr().out
    assert "latents: 0 of 2 active" in out and "warning: " in out and "posterior collapse" in out
    # the advice named the scikit-learn estimator's keywords (likelihood="gaussian", overrides={...}, epochs=),
    # which the command line does not take; it names the command's options, as train's does
    assert "what to try" in out and "--epochs" in out and "overrides={" not in out and "epochs=)" not in out


def test_fit_takes_config_overrides_like_train(tmp_path):
    assert main(["outliers", "fit", "--data", "digits", "--normal-class", "0", "--likelihood", "gaussian",
                 "model.scale=0.1", "--runs-dir", str(tmp_path), "--name", "g", *FAST,
                 "trainer.weight_decay=1e-5"]) == 0
    cfg = (tmp_path / "g" / "config.yaml").read_text()
    assert "scale: 0.1" in cfg and "weight_decay: 1.0e-05" in cfg


def test_default_epochs_follow_trains_auto_rule_on_a_small_class(tmp_path, capsys):
    # 161 zeros of digits → 145 training rows after the validation part: at the default batch of 128 a fixed 30
    # epochs was 60 steps and every latent stayed at the prior. The default is now train's rule (auto_epochs: at
    # least 1,000 steps). Batches of 16 here (10 steps an epoch) keep the test to 100 epochs of per-epoch overhead.
    from shadowplay.config import AUTO_MIN_STEPS, auto_epochs
    args = ["outliers", "fit", "--data", "digits", "--normal-class", "0", "--runs-dir", str(tmp_path), "--score",
            "recon", "--latent-dim", "2", "--batch-size", "16", "--no-progress", "--device", "cpu",
            "model.hidden=[8]", "trainer.checkpoint_every=1000"]
    assert main([*args, "--name", "auto"]) == 0
    printed = capsys.readouterr().out
    folder = RunFolder(tmp_path / "auto")
    n_train = 161 - round(0.1 * 161)
    assert folder.meta["outliers"]["n_train"] == 161 and auto_epochs(n_train, 128) == 500  # 60 steps before
    assert folder.config.trainer.epochs == auto_epochs(n_train, 16) == 100
    steps = folder.meta["outliers"]["steps"]
    assert steps >= AUTO_MIN_STEPS and steps == 100 * -(-n_train // 16)
    assert "epochs 100 (auto: 30, or enough for 1,000 steps" in printed and f"{steps} steps" in printed
    assert main([*args, "--name", "given", "--epochs", "3"]) == 0  # an explicit --epochs still wins
    assert "epochs 3 (--epochs), 30 steps" in capsys.readouterr().out
    assert RunFolder(tmp_path / "given").meta["outliers"]["epochs_auto"] is False
