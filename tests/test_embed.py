"""``shadowplay embed`` / ``sp.embed``: codes files (.npy, .csv with log-variances and labels), maps coloured by
label, any data of the run's shape, runs fitted from arrays, and the bad inputs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

import shadowplay as sp
from shadowplay.errors import ShadowplayError
from shadowplay.sklearn import VAEEmbedding


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return sp.train(data="digits", model="vae", latent_dim=3, epochs=1, runs_dir=runs, name="d", progress=False,
                    overrides=["model.hidden=[32]", "data.n_samples=300"])


def test_codes_of_the_test_split_are_the_posterior_means(run):
    e = sp.embed(run.path)
    assert e.files == [run.path / "embeddings" / "codes-digits-test.npy"]
    saved = np.load(e.files[0])
    x = sp.api.load_splits(run.config).test
    np.testing.assert_allclose(saved, sp.load(run.path).encode(x.x).mean.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(e.labels, x.labels.numpy())


def test_new_data_every_row_in_order_with_logvar(run, tmp_path):
    x = np.random.default_rng(0).random((25, 8, 8)).astype(np.float32)
    np.save(tmp_path / "new.npy", x)
    e = sp.embed(run.path, data=str(tmp_path / "new.npy"), out=tmp_path / "c.npy", logvar=True)
    arr = np.load(tmp_path / "c.npy")
    assert arr.shape == (25, 6)
    q = sp.load(run.path).encode(x[:, None])
    np.testing.assert_allclose(arr[:, :3], q.mean.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(arr[:, 3:], 2 * np.log(q.stddev.detach().numpy()), rtol=1e-5, atol=1e-5)
    sp.embed(run.path, data=str(tmp_path / "new.npy"), out=tmp_path / "c.csv", logvar=True)
    rows = list(csv.reader(open(tmp_path / "c.csv")))
    assert rows[0] == ["index", "z0", "z1", "z2", "logvar0", "logvar1", "logvar2"] and len(rows) == 26
    np.testing.assert_allclose(np.array(rows[1:], float)[:, 1:], arr, rtol=1e-5, atol=1e-6)
    assert e.labels is None


@pytest.mark.parametrize("method", ["top2", "pca", "tsne"])
def test_maps_are_coloured_by_label(run, tmp_path, method):
    e = sp.embed(run.path, map=method, out=tmp_path / f"{method}.png", split="all", max_points=120)
    assert e.map.xy.shape == (120, 2) and len(e.labels) == 300
    img = Image.open(tmp_path / f"{method}.png")
    assert img.size[0] > 400
    colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert len(colours) > 10  # ten label colours, not one


def test_cli_embed(run, cli, tmp_path):
    r = cli("embed", str(run.path), "--map", "pca", "-o", str(tmp_path / "m.png"))
    assert r.returncode == 0, r.stderr
    assert "pca map of 30 of 30 inputs, 3 latents, labelled" in r.stdout and (tmp_path / "m.png").is_file()
    r = cli("embed", str(run.path), "--split", "train", "-o", str(tmp_path / "c.csv"))
    assert r.returncode == 0 and "codes of 240 inputs" in r.stdout
    r = cli("embed", str(run.path), "-o", str(tmp_path / "c.txt"))
    assert r.returncode == 2 and "codes can be written as .npy or .csv, not '.txt'" in r.stderr


def test_bad_inputs(run, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, 10), np.float32))
    with pytest.raises(ShadowplayError, match=r"inputs of shape \(10,\) but this model takes \(1, 8, 8\)"):
        sp.embed(run.path, data=str(tmp_path / "wide.npy"))
    with pytest.raises(ShadowplayError, match="a map can be written as .png"):
        sp.embed(run.path, map="pca", out=tmp_path / "m.jpg")
    with pytest.raises(ShadowplayError, match="unknown map 'umap'"):
        sp.embed(run.path, map="umap")
    with pytest.raises(ShadowplayError, match="unknown split"):
        sp.embed(run.path, split="dev")


def test_runs_fitted_from_arrays_need_data(tmp_path):
    x = np.random.default_rng(0).random((60, 5))
    emb = VAEEmbedding(n_components=2, hidden=(8,), epochs=1, device="cpu").fit(x)
    path = emb.save(tmp_path / "emb")
    with pytest.raises(ShadowplayError, match="fitted from arrays in memory.*--data"):
        sp.embed(path)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    e = sp.embed(path, data=str(tmp_path / "x.npy"))
    np.testing.assert_allclose(e.codes, emb.transform(x), rtol=1e-5, atol=1e-6)
    ae = VAEEmbedding(n_components=2, model="ae", hidden=(8,), epochs=1, device="cpu").fit(x).save(tmp_path / "ae")
    with pytest.raises(ShadowplayError, match="no log-variances"):
        sp.embed(ae, data=str(tmp_path / "x.npy"), logvar=True)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A run trained on a CSV file given by its path (stored absolute in the run's config)."""
    d = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    rows = np.c_[rng.normal(size=(60, 4)) * [1, 10, 100, 0.1] + [0, 5, 50, 1], rng.integers(0, 2, 60)]
    with open(d / "table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "d", "y"])
        w.writerows(rows.tolist())
    return sp.train(data=str(d / "table.csv"), latent_dim=2, epochs=1, runs_dir=d / "runs", name="t", progress=False,
                    overrides=["model.hidden=[8]", "data.label_column=y"])


def test_default_files_of_a_run_trained_on_a_path_are_named_by_its_stem(csv_run):
    # the run's source is an absolute path: it used to become nested folders,
    # embeddings/codes-/tmp/.../table.csv-test.npy
    e = sp.embed(csv_run.path)
    assert e.files == [csv_run.path / "embeddings" / "codes-table-test.npy"] and e.files[0].is_file()
    m = sp.embed(csv_run.path, map="top2")
    assert m.files == [csv_run.path / "embeddings" / "map-top2-table-test.png"] and m.files[0].is_file()


def test_a_bernoulli_run_refuses_data_outside_the_unit_interval(run, tmp_path):
    # as evaluate does: the encoder only ever saw [0, 1], so 0..16 grey levels gave codes far off the prior, silently
    np.save(tmp_path / "levels.npy", np.full((5, 1, 8, 8), 16.0, np.float32))
    with pytest.raises(ShadowplayError, match=r"Bernoulli likelihood needs data in \[0, 1\]; the data '.*levels.npy'"):
        sp.embed(run.path, data=str(tmp_path / "levels.npy"), out=tmp_path / "c.npy")
    assert not (tmp_path / "c.npy").exists()


def test_a_tsne_map_says_when_it_starts(run, tmp_path, capsys):
    # t-SNE of 5,000 codes ran two silent minutes
    sp.embed(run.path, map="tsne", out=tmp_path / "t.png", max_points=20)
    assert "t-SNE of 20 codes: this can take minutes" in capsys.readouterr().err
    sp.embed(run.path, map="tsne", out=tmp_path / "t.png", max_points=20, progress=False)
    assert capsys.readouterr().err == ""


def test_logvar_with_a_map_is_refused(run, tmp_path):
    # the map draws means only: --logvar was ignored without a word
    with pytest.raises(ShadowplayError, match="--logvar adds log-variances to a codes file"):
        sp.embed(run.path, map="pca", logvar=True, out=tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


def test_max_points_is_checked_by_its_option_name_before_any_work(run, tmp_path, monkeypatch):
    # it said "max_points must be >= 2" after loading the model and encoding every input
    import sys
    monkeypatch.setattr(sys.modules["shadowplay.api.embed"], "load_model",
                        lambda *a, **k: pytest.fail("loaded the model first"))
    with pytest.raises(ShadowplayError, match="--max-points must be >= 2"):
        sp.embed(run.path, map="pca", max_points=1, out=tmp_path / "m.png")
