"""The biased-fmnist source: labels, the planted inversion, the four test groups, bad options."""

import pytest
import torch

from shadowplay.data import SourceOptions, load_data
from shadowplay.errors import DataError


def load(folder, **kw):
    return load_data("biased-fmnist", options=SourceOptions(data_dir=str(folder), seed=kw.pop("seed", 0), **kw))


def test_groups_inversion_and_test_set(fmnist_dir):
    s = load(fmnist_dir, rare_fraction=0.05)
    plain = load_data("fashion-mnist", options=SourceOptions(data_dir=str(fmnist_dir), seed=0))
    tr = s.train
    assert torch.equal(tr.labels, torch.isin(plain.train.labels, torch.tensor([5, 7, 9])).long())
    inverted = tr.factors[:, 1].bool()
    assert torch.equal(tr.groups, 2 * tr.labels + inverted.long())
    # inverted rows are exactly 1 − x of the plain rows, the others untouched
    assert torch.allclose(tr.x[inverted], 1 - plain.train.x[inverted])
    assert torch.equal(tr.x[~inverted], plain.train.x[~inverted])
    n_pos, n_neg = int((tr.labels == 1).sum()), int((tr.labels == 0).sum())
    assert int((tr.groups == 3).sum()) == max(1, round(0.05 * n_pos))
    assert int((tr.groups == 1).sum()) == round(0.5 * n_neg)
    t = s.test
    assert len(t) == 2 * len(plain.test) and torch.equal(t.x[30:], 1 - t.x[:30])
    assert t.groups.bincount().tolist() == [21, 21, 9, 9]
    assert tr.meta["group_names"] == ["negative", "negative-inverted", "positive", "positive-inverted"]
    assert tr.meta["sensitive"] == "inverted" and tr.meta["factor_value_names"]["inverted"] == ["original", "inverted"]


def test_parameters_and_seed(fmnist_dir):
    s = load(fmnist_dir, rare_fraction=0.5, positive_classes=(0,))
    assert int(s.train.labels.sum()) == int((s.train.factors[:, 0] == 0).sum())
    assert torch.equal(load(fmnist_dir, seed=3).train.groups, load(fmnist_dir, seed=3).train.groups)
    a, b = load(fmnist_dir, seed=1, rare_fraction=0.3), load(fmnist_dir, seed=2, rare_fraction=0.3)
    assert not torch.equal(a.train.factors, b.train.factors) or not torch.equal(a.train.x, b.train.x)


@pytest.mark.parametrize("kw,match", [({"rare_fraction": 0.0}, "rare_fraction"), ({"rare_fraction": 1.0}, "rare"),
                                      ({"rare_fraction": -0.1}, "rare"), ({"positive_classes": (10,)}, "class"),
                                      ({"positive_classes": tuple(range(10))}, "class")])
def test_bad_options(fmnist_dir, kw, match):
    with pytest.raises(DataError, match=match):
        load(fmnist_dir, **kw)
