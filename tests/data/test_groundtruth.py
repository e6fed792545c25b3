"""NpzGroundTruth and groundtruth_for."""

import numpy as np
import pytest
import torch

from shadowplay.data.dsprites import ColorDSprites, DSprites, NoisyDSprites
from shadowplay.data.groundtruth import GroundTruthData, NpzGroundTruth, groundtruth_for
from shadowplay.errors import DataError


def grid_file(tmp_path, drop=0, duplicate=False, **extra):
    """A 2 x 3 factor grid, rows shuffled; image of (a, b) is filled with 10 * (3a + b) + 5."""
    factors = np.array([(a, b) for a in range(2) for b in range(3)], np.int64)
    order = np.random.default_rng(0).permutation(len(factors))
    factors = factors[order][drop:]
    if duplicate:
        factors = np.concatenate([factors, factors[:1]])
    fill = (10 * (3 * factors[:, 0] + factors[:, 1]) + 5).astype(np.uint8)
    images = np.ones((len(factors), 4, 5), np.uint8) * fill[:, None, None]
    path = tmp_path / "grid.npz"
    np.savez(path, images=images, factors=factors, **extra)
    return path


def test_lookup_by_factor_tuple(tmp_path):
    gt = NpzGroundTruth(grid_file(tmp_path, factor_names=np.array(["colour", "size"])))
    assert isinstance(gt, GroundTruthData)
    assert gt.factor_sizes == (2, 3) and gt.factor_names == ("colour", "size") and gt.observation_shape == (1, 4, 5)
    obs = gt.observations(np.array([[1, 2], [0, 0], [0, 1]]))
    assert obs.shape == (3, 1, 4, 5) and obs.dtype == torch.float32
    np.testing.assert_allclose(obs[:, 0, 0, 0].numpy(), np.array([55, 5, 15]) / 255, rtol=1e-6)


def test_sample_factors_uniform_and_seeded(tmp_path):
    gt = NpzGroundTruth(grid_file(tmp_path))
    a = gt.sample_factors(500, np.random.default_rng(3))
    b = gt.sample_factors(500, np.random.default_rng(3))
    assert a.shape == (500, 2) and a.dtype == np.int64 and np.array_equal(a, b)
    assert set(map(tuple, a.tolist())) == {(i, j) for i in range(2) for j in range(3)}


def test_incomplete_grid(tmp_path):
    path = grid_file(tmp_path, drop=1)
    with pytest.raises(DataError, match="covers 5 of the 6"):
        NpzGroundTruth(path)
    gt = NpzGroundTruth(path, require_complete=False)
    missing = [(a, b) for a in range(2) for b in range(3)
               if (a, b) not in {tuple(f) for f in np.load(path)["factors"].tolist()}]
    with pytest.raises(DataError, match="no observation for factor combination"):
        gt.observations(np.array([missing[0]]))


def test_duplicates_and_range(tmp_path):
    with pytest.raises(DataError, match="more than once"):
        NpzGroundTruth(grid_file(tmp_path, duplicate=True))
    gt = NpzGroundTruth(grid_file(tmp_path))
    with pytest.raises(DataError, match="integer array"):
        gt.observations(np.array([[2, 0]]))
    with pytest.raises(DataError, match="integer array"):
        gt.observations(np.array([0, 1]))


def test_original_dsprites_keys_and_binary_uint8(tmp_path):
    imgs = np.zeros((2, 6, 6), np.uint8)
    imgs[1, 2:4, 2:4] = 1  # binary masks stored as uint8 0/1 stay 0/1
    path = tmp_path / "orig.npz"
    np.savez(path, imgs=imgs, latents_classes=np.array([[0, 0], [0, 1]]))
    gt = NpzGroundTruth(path)
    assert gt.factor_sizes == (1, 2) and gt.observations(np.array([[0, 1]])).max() == 1.0


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        NpzGroundTruth(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, pictures=np.zeros((2, 3, 3)), factors=np.array([[0], [1]]))
    with pytest.raises(DataError, match="found keys"):
        NpzGroundTruth(bad)
    np.savez(bad, images=np.zeros((2, 3, 3)), factors=np.array([[0.0], [1.0]]))
    with pytest.raises(DataError, match="non-negative integers"):
        NpzGroundTruth(bad)
    np.savez(bad, images=np.zeros((2, 3, 3)), factors=np.array([[0], [1]]), factor_names=np.array([{}], object))
    with pytest.raises(DataError, match="pickled"):
        NpzGroundTruth(bad)


def test_groundtruth_for(tmp_path):
    assert type(groundtruth_for("dsprites")) is DSprites
    assert type(groundtruth_for("color-dsprites")) is ColorDSprites
    assert type(groundtruth_for("noisy-dsprites")) is NoisyDSprites
    assert isinstance(groundtruth_for(grid_file(tmp_path)), NpzGroundTruth)
    assert isinstance(groundtruth_for(str(grid_file(tmp_path))), NpzGroundTruth)
    for name in ("digits", "fashion-mnist", str(tmp_path / "table.csv")):
        with pytest.raises(DataError, match="no ground-truth factors"):
            groundtruth_for(name)
