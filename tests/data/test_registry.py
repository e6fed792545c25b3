"""``has_factors``: what a source declares about ground-truth factors, checked against what loading it gives."""

import numpy as np
import pytest

from shadowplay.data import SourceOptions, has_factors, load_data, source_names


@pytest.mark.parametrize("source", sorted(source_names()))
def test_each_builtin_declares_what_it_loads(source, fmnist_dir):
    """A study trusts the declaration to refuse factor metrics before training (digits: none; dsprites: five)."""
    splits = load_data(source, options=SourceOptions(data_dir=str(fmnist_dir), n_samples=300, seed=0,
                                                     rare_fraction=0.05))
    assert has_factors(source) is (splits.train.factors is not None) is (splits.test.factors is not None)


def test_files_have_factors_only_in_an_npz_that_holds_them(tmp_path):
    x = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    np.savez(tmp_path / "with.npz", x=x, factors=np.zeros((20, 2), np.int64))
    np.savez(tmp_path / "without.npz", x=x)
    np.save(tmp_path / "plain.npy", x)
    for name, expected in (("with.npz", True), ("without.npz", False), ("plain.npy", False)):
        path = str(tmp_path / name)
        assert has_factors(path) is expected
        assert (load_data(path).train.factors is not None) is expected
    assert has_factors(str(tmp_path / "elsewhere.npz")) is None  # not on this machine: only loading can tell
    assert has_factors("digitz") is None  # not a source at all: the loader's did-you-mean says so
