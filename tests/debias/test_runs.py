"""Run-level debiasing functions (``shadowplay.debias.runs``) on tiny digits runs."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import shadowplay as sp
from shadowplay.errors import DebiasError, ShadowplayWarning


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("debias")
    opts = dict(data="digits", epochs=1, latent_dim=2, runs_dir=root, progress=False,
                overrides=["model.hidden=[16]", "trainer.max_steps=3"])
    return root, sp.debias.train(name="db", **opts), sp.debias.train(name="plain", model="classifier", **opts)


def test_compare_refuses_latent_clusters_of_several_runs(two_runs):
    # each run's k-means clusters come from its own encoder: the chart put unrelated "cluster 4"s side by side
    root, db, plain = two_runs
    with pytest.raises(DebiasError, match="cluster k of one run is not cluster k of another"):
        sp.debias.compare([plain, db], groups="latent", out=root / "cmp")
    assert not (root / "cmp").exists()
    one = sp.debias.compare([db], groups="latent", out=root / "one")  # one run: its own clusters
    assert set(one) == {"db"} and (root / "one" / "compare.png").is_file()


@pytest.fixture(scope="module")
def grouped_npz(tmp_path_factory):
    import numpy as np
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("npz") / "grouped.npz"
    y = np.arange(80) % 2
    np.savez(path, x=rng.uniform(size=(80, 6)).astype(np.float32), labels=y, groups=2 * y + (np.arange(80) % 4 < 2))
    return path


def test_a_config_file_keeps_its_preset_and_resample_mode(tmp_path, grouped_npz):
    # the function's defaults (model="dbvae", resample latent) silently replaced what the file asked for
    cfg = tmp_path / "oracle.yaml"
    cfg.write_text(f"data: {{source: {grouped_npz}}}\nmodel: {{preset: classifier, net: mlp, latent_dim: 2, "
                   "hidden: [8]}\ndebias: {resample: groups}\ntrainer: {max_steps: 2}\n")
    run = sp.debias.train(cfg, runs_dir=tmp_path, name="oracle", progress=False)
    assert (run.config.model.preset, run.config.debias.resample) == ("classifier", "groups")
    # an explicit keyword still wins over the file
    run = sp.debias.train(cfg, model="dbvae", resample="latent", runs_dir=tmp_path, name="db", progress=False)
    assert (run.config.model.preset, run.config.debias.resample) == ("dbvae", "latent")


@pytest.mark.parametrize("kwargs,match", [
    (dict(rare_fraction=0.1), "plant the bias of biased-fmnist"),
    (dict(positive_classes=[1]), "plant the bias of biased-fmnist"),
    (dict(model="classifier", alpha=0.1), "would do nothing"),
    (dict(resample="groups", bins=5), "would do nothing"),
    (dict(model="vae"), "one of the presets dbvae, classifier"),
])
def test_options_that_would_be_ignored_are_refused(tmp_path, grouped_npz, kwargs, match):
    with pytest.raises(DebiasError, match=match):
        sp.debias.train(data=str(grouped_npz), runs_dir=tmp_path, name="x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_training_summarizes_the_draws_and_warns_on_a_one_input_group(tmp_path):
    # the oracle gives every group half of its class's draws: a group of one training input is drawn ~half of the
    # time, which the run now says (weights.json, a warning) instead of leaving it to the checkpoint
    import json

    import numpy as np
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    groups = 2 * y
    groups[1] = 3  # one positive input in group 3
    path = tmp_path / "single.npz"
    np.savez(path, x=rng.uniform(size=(200, 6)).astype(np.float32), labels=y, groups=groups)
    with pytest.warns(sp.debias.ConcentratedDrawsWarning, match="merge tiny groups"):
        run = sp.debias.train(data=str(path), resample="groups", latent_dim=2, runs_dir=tmp_path, name="r",
                              progress=False, overrides=["model.hidden=[8]", "trainer.max_steps=2",
                                                         "data.val_fraction=0", "data.test_fraction=0.05"])
    d = json.loads((run.path / "debias" / "weights.json").read_text())
    shares = {g["group"]: (g["n"], g["draw_share"]) for g in d["groups"]}
    n = shares[2][0] + shares[3][0]
    assert d["n"] == n and shares[3][1] == pytest.approx(0.5) and shares[2][1] == pytest.approx(0.5)
    assert d["effective_n"] == pytest.approx(1 / (0.25 + (n - 1) * (0.5 / (n - 1)) ** 2))


def test_infinite_alpha_in_the_config_is_refused(tmp_path, grouped_npz):
    # alpha = inf passed "> 0" and every sampling weight became NaN
    from shadowplay.errors import ConfigError
    with pytest.raises(ConfigError, match="debias.alpha must be finite"):
        sp.debias.train(data=str(grouped_npz), runs_dir=tmp_path, name="x", progress=False,
                        overrides=["debias.alpha=inf"])


def _expected_draws(run_path):
    """The draw summary of the newest checkpoint's sampling weights, computed here from the checkpoint and the data."""
    from shadowplay.debias import summarize_draws
    from shadowplay.run import open_run
    from shadowplay.workflow import run_splits
    folder = open_run(run_path)
    weights = folder.checkpoint("last").tensors["data/sample_weights"]
    train = run_splits(folder).train
    mask = train.labels == folder.config.debias.debias_class
    draws = summarize_draws(weights[mask], folder.config.debias.debias_class, train.groups[mask])
    return json.loads(json.dumps(draws.as_dict()))  # as weights.json holds it


def test_resume_rewrites_the_weights_files_from_the_resumed_run(tmp_path, grouped_npz):
    # weights.png/.json were written by `debias train` only: after `shadowplay resume` they still showed the first
    # run's last epoch, not the weights the resumed run ended with
    run = sp.debias.train(data=str(grouped_npz), latent_dim=2, epochs=1, runs_dir=tmp_path, name="r", progress=False,
                          overrides=["model.hidden=[8]", "trainer.batch_size=16"])
    files = run.path / "debias" / "weights.json", run.path / "debias" / "weights.png"
    first = json.loads(files[0].read_text())
    assert first == _expected_draws(run.path)
    files[1].unlink()
    sp.resume(run, ["trainer.epochs=3"], progress=False)
    after = _expected_draws(run.path)
    assert after != first  # the resumed epochs drew with other weights, so stale files would show
    assert json.loads(files[0].read_text()) == after and files[1].is_file()


def test_train_loads_the_data_once(tmp_path, grouped_npz, monkeypatch):
    # debias train loaded the data for training and again for the weights files (2 s of a 10 s biased-fmnist run)
    from shadowplay.workflow import build
    calls = []
    real = build.load_data
    monkeypatch.setattr(build, "load_data", lambda *a, **k: calls.append(a) or real(*a, **k))
    run = sp.debias.train(data=str(grouped_npz), latent_dim=2, runs_dir=tmp_path, name="r", progress=False,
                          overrides=["model.hidden=[8]", "trainer.max_steps=2"])
    assert len(calls) == 1 and (run.path / "debias" / "weights.json").is_file()
    data = json.loads((run.path / "run.json").read_text())["data"]  # recorded as loaded from the file, not arrays
    assert data["in_memory"] is False and data["fingerprint"] and data["source"] == str(grouped_npz.resolve())


def test_weights_figure_of_a_csv_names_its_columns(tmp_path, monkeypatch):
    # weights.png of a table drew each row as a line over "feature" 0..D-1: which column was which was lost
    import numpy as np
    from matplotlib.figure import Figure
    rng = np.random.default_rng(0)
    rows = ["age,income,hours,y,sex"] + [f"{rng.normal():.3f},{rng.normal():.3f},{rng.normal():.3f},{i % 2},"
                                         f"{'f' if i % 3 else 'm'}" for i in range(90)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    seen, real = {}, Figure.savefig

    def savefig(fig, path, *args, **kwargs):  # the names under the figure's x axes, by file name
        seen[Path(path).name] = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
        return real(fig, path, *args, **kwargs)
    monkeypatch.setattr(Figure, "savefig", savefig)
    sp.debias.train(data=str(tmp_path / "table.csv"), latent_dim=2, runs_dir=tmp_path, name="r", progress=False,
                    overrides=["model.hidden=[8]", "trainer.max_steps=2", "data.label_column=y",
                               "data.group_column=sex"])
    assert {"age", "income", "hours"} <= set(seen["weights.png"])  # the features, not the label or group column
    assert not {"y", "sex"} & set(seen["weights.png"])


def _right(run_path):
    """Independently of the audit: which test inputs the run's classifier gets right, and their groups."""
    from shadowplay.run import open_run
    from shadowplay.workflow import run_splits
    test = run_splits(open_run(run_path)).test
    p = sp.debias.predict(sp.load(run_path, "last"), test.x)  # P(y = 1) of the one-logit head
    return (p >= 0.5).astype(int) == test.labels.numpy(), test.groups.numpy()


def test_compare_tests_the_worst_group_difference(tmp_path):
    # compare printed two worst-group accuracies with nothing to say whether they differ by more than noise
    from scipy.stats import binomtest
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    x = rng.normal(size=(200, 4)).astype(np.float32)
    x[:, 0] += 2.0 * y  # a learnable but noisy label, so the two runs answer differently
    np.savez(tmp_path / "data.npz", x=x, labels=y, groups=2 * y + (np.arange(200) % 4 < 2))
    opts = dict(data=str(tmp_path / "data.npz"), latent_dim=2, runs_dir=tmp_path, progress=False,
                overrides=["model.hidden=[16]", "trainer.max_steps=30", "trainer.batch_size=32", "trainer.lr=0.01",
                           "data.test_fraction=0.5"])
    db, plain = sp.debias.train(name="db", **opts), sp.debias.train(name="plain", model="classifier", **opts)
    cmp = sp.debias.compare([db, plain], out=tmp_path / "cmp")
    assert list(cmp) == ["db", "plain"] and set(cmp.tests) == {"plain"}
    t = cmp.tests["plain"]
    (right_db, groups), (right_plain, _) = _right(db.path), _right(plain.path)
    g, h = cmp["plain"].worst.group, cmp["db"].worst.group
    if g == h:  # the same inputs and the same worst group: McNemar on that group, input by input
        m = groups == g
        b, c = int((right_plain[m] & ~right_db[m]).sum()), int((~right_plain[m] & right_db[m]).sum())
        assert (t.test, t.only_run, t.only_reference) == ("mcnemar", b, c)
        assert t.p == pytest.approx(binomtest(b, b + c).pvalue if b + c else 1.0)
    else:
        assert t.test == "permutation" and 0 < t.p <= 1
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "worst-group p vs db" in table and f"| {t.cell()} |" in table and "| reference |" in table
    assert "cannot tell them apart" in table


def test_worst_group_test_pairs_only_the_same_inputs_and_group():
    from shadowplay.debias.comparison import Answers, worst_group_test
    y = np.arange(40) % 2
    groups = np.repeat([0, 1, 2, 3], 10)
    x = np.arange(40.0)
    a_pred, b_pred = y.copy(), y.copy()
    a_pred[:6] = 1 - y[:6]    # run a: 6 of group 0 wrong
    b_pred[:3] = 1 - y[:3]    # run b: 3 of group 0 wrong
    b_pred[10:11] = 1 - y[10:11]  # and 1 of group 1: both runs are worst on group 0
    audit_a, audit_b = sp.debias.audit(a_pred, y, groups), sp.debias.audit(b_pred, y, groups)
    ans_a, ans_b = Answers.of(a_pred == y, groups, x, y), Answers.of(b_pred == y, groups, x, y)
    t = worst_group_test("b", audit_b, ans_b, "a", audit_a, ans_a)
    # inputs 3, 4, 5 are right in b alone, none in a alone: p = 2 · P(X <= 0), X ~ Binomial(3, 1/2)
    assert (t.test, t.only_run, t.only_reference) == ("mcnemar", 3, 0) and t.p == pytest.approx(2 / 2 ** 3)
    # a tie for the worst group: "tied" is worst on groups 0 and 1 (0.4; the audit names 0), "c" on group 1 alone
    tied, c_pred = a_pred.copy(), y.copy()
    tied[10:16] = 1 - y[10:16]
    c_pred[10:14] = 1 - y[10:14]
    by = {k: (sp.debias.audit(v, y, groups), Answers.of(v == y, groups, x, y)) for k, v in (("tied", tied),
                                                                                            ("c", c_pred))}
    assert (by["tied"][0].worst.group, by["c"][0].worst.group) == (0, 1)
    t = worst_group_test("tied", *by["tied"], "c", *by["c"])  # both are worst on group 1: inputs 14, 15 differ
    assert (t.test, t.only_run, t.only_reference) == ("mcnemar", 0, 2)
    t = worst_group_test("c", *by["c"], "tied", *by["tied"])
    assert (t.test, t.only_run, t.only_reference) == ("mcnemar", 2, 0)
    moved = Answers.of(b_pred == y, groups, x + 1, y)  # other inputs: nothing to pair
    t = worst_group_test("b", audit_b, moved, "a", audit_a, ans_a, permutations=999)
    assert t.test == "permutation" and t.permutations == 999 and (t.accuracy, t.reference_accuracy) == (0.7, 0.4)


def test_compare_refuses_two_runs_of_one_name(two_runs, tmp_path):
    root, db, _ = two_runs
    with pytest.raises(DebiasError, match="repeat one"):
        sp.debias.compare([db, db], out=tmp_path / "cmp")


def test_plain_train_of_a_dbvae_says_it_does_not_resample_or_writes_the_weights_files_when_it_does(tmp_path,
                                                                                                   grouped_npz):
    # `shadowplay train --model dbvae` trained without resampling and said nothing; with debias.resample=latent it
    # resampled but wrote no debias/weights.* (only `debias train` and `resume` did)
    small = ["model.hidden=[8]", "trainer.max_steps=2", "model.latent_dim=2"]
    with pytest.warns(ShadowplayWarning, match="debias.resample=none .* nothing is debiased.*debias train"):
        plain = sp.train(data=str(grouped_npz), model="dbvae", runs_dir=tmp_path, name="plain", progress=False,
                         overrides=small)
    assert not (plain.path / "debias").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = sp.train(data=str(grouped_npz), model="dbvae", runs_dir=tmp_path, name="latent", progress=False,
                       overrides=[*small, "debias.resample=latent"])
    assert not [w for w in caught if "nothing is debiased" in str(w.message)]  # it resamples: no such warning
    assert json.loads((run.path / "debias" / "weights.json").read_text()) == _expected_draws(run.path)
    assert (run.path / "debias" / "weights.png").is_file()
    assert json.loads((run.path / "run.json").read_text())["data"]["in_memory"] is False
