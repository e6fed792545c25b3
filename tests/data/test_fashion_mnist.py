"""IDX reading/writing and the Fashion-MNIST source (tiny fake files; the real ones when installed)."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from shadowplay.data import SourceOptions, load_data
from shadowplay.data.fashion_mnist import CLASSES, DEFAULT_DIR, read_idx, write_idx
from shadowplay.errors import DataError


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    arr = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 3 - 7).astype(dtype) if dtype != "uint8" \
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def test_idx_header_is_big_endian_and_gzip_is_reproducible(tmp_path):
    write_idx(tmp_path / "l", np.array([1, 2, 3], np.uint8))
    assert (tmp_path / "l").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03"
    write_idx(tmp_path / "a.gz", np.ones((5, 2), np.int32))
    write_idx(tmp_path / "b.gz", np.ones((5, 2), np.int32))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_idx_errors(tmp_path):
    write_idx(tmp_path / "ok", np.zeros((4, 3, 3), np.uint8))
    raw = (tmp_path / "ok").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "long").write_bytes(raw + b"\x00")
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(tmp_path / "long")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "header").write_bytes(raw[:6])
    with pytest.raises(DataError, match="header"):
        read_idx(tmp_path / "header")
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "missing")
    with pytest.raises(DataError, match="cannot store"):
        write_idx(tmp_path / "u16", np.zeros(3, np.uint16))


def fake_dir(tmp_path, n_train=50, n_test=10, gz=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", np.arange(n_train, dtype=np.uint8) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.full((n_test, 28, 28), 255, np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(n_test, dtype=np.uint8) % 10)
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_official_split_from_a_folder(tmp_path, gz):
    folder = fake_dir(tmp_path, gz=gz)
    splits = load_data("fashion-mnist", options=SourceOptions(data_dir=str(folder), seed=1))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (45, 5, 10)
    for ds in (splits.train, splits.val, splits.test):
        assert ds.x.shape[1:] == (1, 28, 28) and ds.x.dtype == torch.float32 and ds.labels.dtype == torch.int64
        assert 0 <= float(ds.x.min()) and float(ds.x.max()) <= 1 and ds.value_range == "unit"
        assert ds.meta == {"classes": CLASSES} and len(CLASSES) == 10
    assert bool((splits.test.x == 1).all())
    pool = torch.cat([splits.train.labels, splits.val.labels]).sort().values
    assert torch.equal(pool, (torch.arange(50) % 10).sort().values)


def test_split_is_seeded_and_n_samples_caps_the_pool(tmp_path):
    folder = str(fake_dir(tmp_path))
    get = lambda seed, n=None: load_data("fashion-mnist", options=SourceOptions(data_dir=folder, seed=seed,  # noqa
                                                                                n_samples=n))
    assert torch.equal(get(1).val.x, get(1).val.x)
    assert not torch.equal(get(1).val.x, get(2).val.x)
    small = get(0, 20)
    assert (len(small.train), len(small.val), len(small.test)) == (18, 2, 10)
    with pytest.raises(DataError, match="n_samples"):
        get(0, 1)


def test_missing_files_say_what_to_do(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError) as e:
        load_data("fashion-mnist", options=SourceOptions(data_dir=str(tmp_path)))
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path) in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg


def test_mismatched_labels(tmp_path):
    folder = fake_dir(tmp_path)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="labels"):
        load_data("fashion-mnist", options=SourceOptions(data_dir=str(folder)))


@pytest.mark.fmnist
@pytest.mark.skipif(not Path(DEFAULT_DIR).is_dir(), reason="needs Debian's dataset-fashion-mnist package")
def test_real_files():
    assert read_idx(Path(DEFAULT_DIR) / "train-labels-idx1-ubyte.gz").shape == (60000,)
    assert read_idx(Path(DEFAULT_DIR) / "t10k-labels-idx1-ubyte.gz").shape == (10000,)
    splits = load_data("fashion-mnist", options=SourceOptions(seed=0))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)
    assert torch.equal(splits.test.labels.bincount(), torch.full((10,), 1000))
    assert splits.test.labels[:3].tolist() == [9, 2, 1]  # the first t10k items: ankle boot, pullover, trouser


@pytest.mark.parametrize("source", ["fashion-mnist", "biased-fmnist"])
def test_an_image_size_other_than_28_is_refused_not_ignored(tmp_path, source):
    with pytest.raises(DataError, match=f"{source}: images are 28x28 and data.image_size=32 cannot change that"):
        load_data(source, options=SourceOptions(data_dir=str(tmp_path), image_size=32))
