"""``VAEEmbedding`` as a PCA-like transformer: shapes, posterior means and scales, inverse, every preset, feature
names, pipelines and grid search, and the bad inputs the issue names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from shadowplay.errors import DataError
from shadowplay.objectives import PRESETS, PresetParams
from shadowplay.sklearn import VAEEmbedding


@pytest.fixture(scope="module")
def fitted(data):
    x, _ = data
    return VAEEmbedding(n_components=3, hidden=(16,), epochs=2, batch_size=32, device="cpu").fit(x)


def test_transform_gives_posterior_means_and_scales(fitted, data):
    x, _ = data
    z = fitted.transform(x)
    mean, std = fitted.transform(x, return_std=True)
    assert z.shape == (160, 3) and z.dtype == np.float64
    np.testing.assert_array_equal(z, mean)
    with torch.no_grad():  # independent computation: the encoder's μ and exp(½ log σ²)
        h = fitted.model_.encoder(torch.as_tensor(x, dtype=torch.float32))
        mu, logvar = h.chunk(2, dim=-1)
    np.testing.assert_allclose(mean, mu.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, np.exp(0.5 * logvar.numpy()), rtol=1e-6, atol=1e-6)
    assert fitted.transform(x.astype(np.float32)).dtype == np.float32  # dtype follows the input, as in PCA


def test_fit_transform_equals_fit_then_transform(data, fast):
    x, _ = data
    a = VAEEmbedding(n_components=2, **fast)
    np.testing.assert_array_equal(a.fit_transform(x), a.transform(x))


def test_inverse_transform_decodes_means(fitted, data):
    x, _ = data
    x_hat = fitted.inverse_transform(fitted.transform(x))
    assert x_hat.shape == x.shape and np.all((x_hat >= 0) & (x_hat <= 1))  # Bernoulli means for data in [0, 1]
    with torch.no_grad():
        ref = torch.sigmoid(fitted.model_.decoder(torch.as_tensor(fitted.transform(x), dtype=torch.float32)))
    np.testing.assert_allclose(x_hat, ref.numpy(), rtol=1e-5, atol=1e-6)


def test_inverse_transform_with_the_wrong_width(fitted):
    with pytest.raises(DataError, match=r"has 4 columns but this model has 3 latents; give codes of shape \(N, 3\)"):
        fitted.inverse_transform(np.zeros((5, 4)))
    with pytest.raises(DataError, match=r"NaN or infinite values in 1 row\(s\) \(1\)"):
        fitted.inverse_transform(np.array([[0, 0, 0], [np.nan, 0, 0]]))


# DB-VAE's presets train a classifier head and need labels: an unsupervised embedding refuses them (below)
UNSUPERVISED = sorted(p for p in PRESETS if not PRESETS[p](PresetParams()).classifier)


@pytest.mark.parametrize("preset", UNSUPERVISED)
def test_every_preset_embeds(preset, data, fast):
    x, _ = data
    emb = VAEEmbedding(n_components=2, model=preset, **fast).fit(x)
    mean, std = emb.transform(x, return_std=True)
    assert mean.shape == std.shape == (160, 2) and np.isfinite(mean).all()
    if preset == "ae":
        assert np.all(std == 0)  # a point-mass code has no spread
    else:
        assert np.all(std > 0)
    assert emb.inverse_transform(mean).shape == x.shape


def test_classifier_presets_need_labels(data, fast):
    with pytest.raises(DataError, match="labelled data"):
        VAEEmbedding(n_components=2, model="dbvae", **fast).fit(data[0])


def test_feature_names_out(fitted):
    assert list(fitted.get_feature_names_out()) == ["vaeembedding0", "vaeembedding1", "vaeembedding2"]
    with pytest.raises(ValueError, match="input_features"):
        fitted.get_feature_names_out([f"g{i}" for i in range(3)])  # must match the 10 input features


def test_feature_names_and_pandas_output(data, fast):
    pd = pytest.importorskip("pandas")
    x, _ = data
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(10)])
    emb = VAEEmbedding(n_components=2, **fast).set_output(transform="pandas").fit(df)
    assert list(emb.feature_names_in_) == [f"f{i}" for i in range(10)]
    out = emb.transform(df)
    assert list(out.columns) == ["vaeembedding0", "vaeembedding1"] == list(emb.get_feature_names_out())


def test_pipeline_and_grid_search(data, fast):
    x, y = data
    pipe = make_pipeline(VAEEmbedding(n_components=2, **{**fast, "epochs": 30, "lr": 3e-3}),
                         LogisticRegression(max_iter=200))
    assert pipe.fit(x, y).score(x, y) > 0.9  # three well-separated blobs, 150 steps
    grid = GridSearchCV(pipe, {"vaeembedding__n_components": [1, 2]}, cv=2).fit(x, y)
    assert grid.best_params_["vaeembedding__n_components"] in (1, 2)
    assert grid.best_estimator_.named_steps["vaeembedding"].transform(x).shape[1] == \
        grid.best_params_["vaeembedding__n_components"]


def test_score_is_the_mean_elbo(fitted, data):
    x, _ = data
    s = fitted.score_samples(x)
    assert s.shape == (160,) and np.all(s < 0)  # Bernoulli ELBO on [0, 1] data is a log-probability bound
    assert fitted.score(x) == pytest.approx(float(s.mean()))
    np.testing.assert_allclose(fitted.score_samples(x[::-1][:40]), s[::-1][:40], rtol=1e-5)  # order, subset


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A run ``shadowplay train`` made from a CSV file with named columns (and a label column)."""
    import csv

    import shadowplay as sp
    d = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    with open(d / "table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["height", "weight", "age", "kind"])
        w.writerows(np.c_[rng.normal([170, 70, 40], [10, 15, 12], (80, 3)), rng.integers(0, 2, 80)].tolist())
    run = sp.train(data=str(d / "table.csv"), latent_dim=2, epochs=1, runs_dir=d / "runs", name="t", progress=False,
                   overrides=["model.hidden=[8]", "data.label_column=kind"])
    return run.path, d / "table.csv"


def test_from_run_of_a_csv_run_knows_its_column_names(csv_run):
    est = VAEEmbedding.from_run(csv_run[0], device="cpu")
    assert list(est.feature_names_in_) == ["height", "weight", "age"]  # the label column is not an input
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out(["a", "b", "c"])


def test_a_reordered_table_is_refused_by_name(csv_run):
    pd = pytest.importorskip("pandas")
    est = VAEEmbedding.from_run(csv_run[0], device="cpu")
    df = pd.read_csv(csv_run[1]).drop(columns="kind")
    z = est.transform(df)
    assert z.shape == (80, 2)
    with pytest.raises(ValueError, match="feature names should match"):  # was encoded column by position
        est.transform(df[["age", "height", "weight"]])


def test_a_raw_table_is_standardized_like_a_csv_run(fast, tmp_path):
    # wine's proline is ~10^3: the unscaled table made the KL infinite at step 0 (TrainingDivergedError)
    from sklearn.datasets import load_wine
    x = load_wine().data
    emb = VAEEmbedding(n_components=2, runs_dir=tmp_path, **fast).fit(x)
    np.testing.assert_allclose(emb.standardize_["mean"], x.mean(0))
    np.testing.assert_allclose(emb.standardize_["std"], x.std(0))
    z = emb.transform(x)
    assert np.isfinite(z).all() and np.isfinite(emb.score(x))
    x_hat = emb.inverse_transform(z)
    assert x_hat[:, 12].mean() > 100  # proline back on the scale of X (hundreds), not standardized (around 0)
    back = VAEEmbedding.from_run(emb.run_dir_, device="cpu")  # the kept run's estimator file has the statistics
    np.testing.assert_array_equal(back.transform(x), z)
    assert VAEEmbedding(n_components=2, **fast).fit(x / x.max(0)).standardize_ is None  # data in [0, 1] stay as given
    with pytest.raises(ValueError, match="standardize must be 'auto', True or False"):
        VAEEmbedding(standardize="yes", **fast).fit(x)


def test_codes_follow_the_input_dtype_for_arrays_and_dataframes_alike(fitted, data, fast):
    # transform of a float32 DataFrame returned float64 (the dtype was read from X.dtype, which a DataFrame lacks),
    # while the same float32 array gave float32. The model computes in float32; like PCA fitted in X's dtype and
    # scikit-learn's preserves_dtype tag, float32 in gives float32 out and float64 (or ints, lists) float64.
    pd = pytest.importorskip("pandas")
    x, _ = data
    x32 = x.astype(np.float32)
    for X, want in [(x32, np.float32), (pd.DataFrame(x32), np.float32), (x, np.float64), (pd.DataFrame(x), np.float64),
                    (x.tolist(), np.float64)]:
        z, s = fitted.transform(X, return_std=True)
        assert z.dtype == s.dtype == want, type(X)
        np.testing.assert_allclose(z, fitted.transform(x32), rtol=1e-6, atol=1e-7)
    assert fitted.inverse_transform(fitted.transform(pd.DataFrame(x32))).dtype == np.float32
    assert "float32" in fitted.__sklearn_tags__().transformer_tags.preserves_dtype
    table = pd.DataFrame((100 * x32).astype(np.float32), columns=[f"c{i}" for i in range(x.shape[1])])
    emb = VAEEmbedding(n_components=2, **fast).fit(table)  # standardized (values outside [0, 1]) in float64
    assert emb.standardize_ is not None
    assert emb.transform(table).dtype == emb.fit_transform(table).dtype == np.float32
