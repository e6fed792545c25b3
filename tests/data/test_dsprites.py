"""Procedural dSprites: geometry pinned pixel by pixel, index arithmetic, variants, sources."""

import numpy as np
import pytest
import torch

from shadowplay.data import SourceOptions, load_data
from shadowplay.data.dsprites import (FACTOR_SIZES, ORIENTATIONS, SCALES, ColorDSprites, DSprites, NoisyDSprites,
                                      render)
from shadowplay.data.groundtruth import GroundTruthData
from shadowplay.errors import DataError

SQUARE, ELLIPSE, HEART = 0, 1, 2
CENTRE = 15  # position index 15 puts the shape's centre on pixel 31's centre


def one(shape, scale=5, orient=0, x=CENTRE, y=CENTRE):
    return render(np.array([[shape, scale, orient, x, y]]))[0]


def test_factor_grid_matches_the_original():
    assert FACTOR_SIZES == (3, 6, 40, 32, 32) and len(DSprites()) == 737_280
    assert SCALES[0] == 0.5 and SCALES[-1] == 1.0
    assert ORIENTATIONS[0] == 0 and ORIENTATIONS[-1] == pytest.approx(2 * np.pi)
    assert isinstance(DSprites(), GroundTruthData) and DSprites().observation_shape == (1, 64, 64)


def test_square_covers_the_expected_block():
    img = one(SQUARE)  # side 19 px centred on pixel 31
    expected = np.zeros((64, 64), np.float32)
    expected[22:41, 22:41] = 1
    np.testing.assert_array_equal(img, expected)
    small = one(SQUARE, scale=0)  # side 9.5 px: the 9 pixels whose centres are within 4.75 px
    assert small.sum() == 81 and small[27:36, 27:36].all()


def test_ellipse_extent_and_symmetry():
    img = one(ELLIPSE)
    rows, cols = np.nonzero(img)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (20, 42, 26, 36)  # 11.4 x 5.7 px semi-axes
    np.testing.assert_array_equal(img[:63, :63], img[:63, :63][::-1, ::-1])


def test_heart_count_orientation_and_mirror_symmetry():
    img = one(HEART)
    assert img.sum() == 259
    # area of (x²+y²-1)³ - x²y³ <= 0 is about 3.662; scaled by (9.5/1.14)² px per unit²
    assert img.sum() == pytest.approx(3.662 * (9.5 / 1.14) ** 2, rel=0.03)
    for scale in range(6):
        for x in (0, 7, 31):
            h = one(HEART, scale=scale, x=x)
            c = 16 + x  # pixel column of the centre
            left, right = h[:, c - 14:c], h[:, c + 1:c + 15][:, ::-1]
            np.testing.assert_array_equal(left, right)
    rows, cols = np.nonzero(img)
    top, bottom = rows.min(), rows.max()
    assert not img[top, 31] and img[top, :31].any()  # two lobes on top, a dip on the axis
    assert list(np.nonzero(img[bottom])[0]) == [31]   # the point at the bottom


def test_one_position_step_moves_one_pixel():
    rng = np.random.default_rng(0)
    f = DSprites().sample_factors(40, rng)
    f[:, 3:] = np.minimum(f[:, 3:], 30)
    base = render(f)
    step_x, step_y = f.copy(), f.copy()
    step_x[:, 3] += 1
    step_y[:, 4] += 1
    np.testing.assert_array_equal(render(step_x), np.roll(base, 1, axis=2))
    np.testing.assert_array_equal(render(step_y), np.roll(base, 1, axis=1))  # posY grows downward


def test_every_shape_stays_inside_the_canvas():
    d = DSprites()
    grid = np.stack(np.meshgrid(range(3), range(6), range(40), indexing="ij"), -1).reshape(-1, 3)
    counts = []
    for pos in ((0, 0), (31, 31), (0, 31)):
        f = np.concatenate([grid, np.tile(pos, (len(grid), 1))], axis=1)
        imgs = d.observations(f)[:, 0]
        counts.append(imgs.sum((1, 2)))
        border = torch.cat([imgs[:, 0], imgs[:, -1], imgs[:, :, 0], imgs[:, :, -1]], 1)
        assert border.sum() == 0
    assert torch.equal(counts[0], counts[1]) and torch.equal(counts[0], counts[2])
    assert counts[0].min() > 0


def test_rotation_is_counter_clockwise_and_full_turn_returns():
    img = one(ELLIPSE, orient=5)  # about 46 degrees
    assert img[:31, 32:].sum() > 2 * img[:31, :31].sum()  # long axis towards the upper right
    for shape in range(3):
        np.testing.assert_array_equal(one(shape, orient=0), one(shape, orient=39))


def test_index_factor_round_trip():
    d = DSprites()
    idx = np.concatenate([[0, 1, 32, len(d) - 1], np.random.default_rng(1).integers(0, len(d), 500)])
    f = d.index_to_factors(idx)
    np.testing.assert_array_equal(d.factors_to_index(f), idx)
    np.testing.assert_array_equal(f[:4], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [2, 5, 39, 31, 31]])
    assert f.dtype == np.int64


def test_rendering_is_deterministic_and_images_match_observations():
    d = DSprites()
    idx = np.array([5, 1234, 700_000])
    assert torch.equal(d.images(idx), d.images(idx))
    assert torch.equal(d.images(idx), d.observations(d.index_to_factors(idx)))
    assert d.images(idx).dtype == torch.float32 and set(d.images(idx).unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("bad", [[[3, 0, 0, 0, 0]], [[0, 0, 0, 0, 32]], [[0, 0, 0, 0]], [[0.0, 0, 0, 0, 0]]])
def test_bad_factors_raise(bad):
    with pytest.raises(DataError, match="factor"):
        DSprites().observations(np.array(bad))


def test_bad_index_raises():
    with pytest.raises(DataError, match="indices"):
        DSprites().images(np.array([737_280]))


def test_sample_factors_in_range():
    f = DSprites().sample_factors(1000, np.random.default_rng(0))
    assert f.shape == (1000, 5) and f.dtype == np.int64
    assert (f.min(0) == 0).all() and (f.max(0) == np.array(FACTOR_SIZES) - 1).all()


def test_color_variant():
    idx = np.arange(0, 737_280, 50_000)
    plain = DSprites().images(idx)[:, 0]
    x = ColorDSprites().images(idx)
    assert x.shape == (len(idx), 3, 64, 64)
    assert torch.equal(x, ColorDSprites().images(idx))
    assert torch.equal((x > 0).any(1).float(), plain)
    colour = x.amax((2, 3))
    assert ((colour >= 0.5) & (colour <= 1)).all() and len({tuple(c) for c in colour.tolist()}) == len(idx)
    assert torch.equal(x, colour[:, :, None, None] * plain[:, None])  # one colour per image
    assert not torch.equal(x, ColorDSprites(seed=1).images(idx))


def test_noisy_variant():
    idx = np.array([3, 99_999, 500_000])
    plain = DSprites().images(idx)[:, 0]
    x = NoisyDSprites().images(idx)
    assert x.shape == (3, 3, 64, 64) and torch.equal(x, NoisyDSprites().images(idx))
    assert torch.equal((x == 1).all(1).float(), plain)
    background = x.permute(1, 0, 2, 3)[:, plain == 0]
    assert background.min() >= 0 and background.max() < 1 and 0.45 < background.mean() < 0.55
    assert not torch.equal(x, NoisyDSprites(seed=1).images(idx))


@pytest.mark.parametrize("name,channels", [("dsprites", 1), ("color-dsprites", 3), ("noisy-dsprites", 3)])
def test_sources(name, channels):
    splits = load_data(name, seed=0, options=SourceOptions(n_samples=200, seed=0))
    ds = splits.train
    assert len(splits.train) + len(splits.val) + len(splits.test) == 200
    assert ds.x.shape[1:] == (channels, 64, 64) and ds.factors.shape == (len(ds), 5)
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY") and ds.factor_sizes == FACTOR_SIZES
    assert ds.meta == {"groundtruth": name} and ds.value_range == "unit"
    from shadowplay.data.groundtruth import groundtruth_for
    assert torch.equal(groundtruth_for(name).observations(ds.factors[:10].numpy()), ds.x[:10])
    again = load_data(name, seed=0, options=SourceOptions(n_samples=200, seed=0)).train
    assert torch.equal(again.factors, ds.factors)


def test_source_options_checked():
    with pytest.raises(DataError, match="n_samples"):
        load_data("dsprites", options=SourceOptions(n_samples=10**7))
    with pytest.raises(DataError, match="images are 64x64 and data.image_size=32 cannot change that"):
        load_data("dsprites", options=SourceOptions(n_samples=10, image_size=32))
    assert load_data("dsprites", options=SourceOptions(n_samples=10, image_size=64)).train.shape == (1, 64, 64)
