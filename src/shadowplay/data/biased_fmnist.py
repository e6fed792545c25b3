"""``biased-fmnist``: a Fashion-MNIST task with a known, planted bias, for DB-VAE and the bias audit.

The task is binary: positive = footwear (Sandal 5, Sneaker 7, Ankle boot 9 by default), negative = the other classes.
The bias is colour inversion (x → 1 − x). In the training and validation sets a small ``rare_fraction`` of the
positive images is inverted while half of the negative ones are, so "inverted" is almost never "positive" and a plain
classifier can learn the shortcut. The test set holds every Fashion-MNIST test image in both forms, so the four groups
(class × inverted) are scored on equal footing:

=====  ===================  ======================================
group  name                 training share (positives ≈ 30 %)
=====  ===================  ======================================
0      negative             ½ of the negatives
1      negative-inverted    ½ of the negatives
2      positive             (1 − rare_fraction) of the positives
3      positive-inverted    rare_fraction of the positives (rare)
=====  ===================  ======================================

Which images are inverted is a seeded draw (``SourceOptions.seed``); the rare count is ``round(rare_fraction ·
positives)`` and at least one. Labels are ``(N,)`` int64 in {0, 1}; ``groups = 2·label + inverted``; ``factors`` are
``(fmnist_class, inverted)``. ``meta``: ``group_names``; ``sensitive`` = ``"inverted"``, the factor a bias audit
compares its fairness gaps across; ``factor_value_names`` names each factor's values (``inverted``: original,
inverted; ``fmnist_class``: the Fashion-MNIST class names).
"""

from __future__ import annotations

import torch

from ..errors import DataError
from .base import Dataset, DataSplits, check_fixed_size
from .fashion_mnist import CLASSES, load_fashion_mnist
from .registry import SourceOptions, register_source

DEFAULT_POSITIVE = (5, 7, 9)
DEFAULT_RARE_FRACTION = 0.005
GROUP_NAMES = ("negative", "negative-inverted", "positive", "positive-inverted")
INVERTED_NAMES = ("original", "inverted")  # values 0 and 1 of the factor ``inverted``, the sensitive attribute


def check_bias_options(positive_classes: tuple[int, ...], rare_fraction: float) -> None:
    """Raise :class:`DataError` unless the positive classes are Fashion-MNIST classes and 0 < fraction < 1."""
    if not 0.0 < float(rare_fraction) < 1.0:
        raise DataError(f"rare_fraction must lie strictly between 0 and 1, got {rare_fraction}; e.g. 0.005 "
                        "inverts 0.5 % of the positive training images")
    bad = [c for c in positive_classes if not 0 <= int(c) < len(CLASSES)]
    if not positive_classes or bad or len(set(positive_classes)) == len(CLASSES):
        raise DataError(f"positive_classes must be 1 to 9 distinct Fashion-MNIST class ids in 0..9, got "
                        f"{list(positive_classes)}")


def _biased(ds: Dataset, positive: torch.Tensor, rare_fraction: float, g: torch.Generator, meta: dict) -> Dataset:
    """Invert ``rare_fraction`` of the positives and half of the negatives of ``ds`` (seeded by ``g``)."""
    y = torch.isin(ds.labels, positive).long()
    inverted = torch.zeros(len(ds), dtype=torch.bool)
    for cls, share in ((1, rare_fraction), (0, 0.5)):
        idx = torch.nonzero(y == cls).flatten()
        k = max(1, int(round(share * len(idx)))) if len(idx) else 0
        inverted[idx[torch.randperm(len(idx), generator=g)[:k]]] = True
    x = torch.where(inverted.view(-1, 1, 1, 1), 1.0 - ds.x, ds.x)
    return _dataset(x, y, ds.labels, inverted, dict(meta))


def _dataset(x: torch.Tensor, y: torch.Tensor, fine: torch.Tensor, inverted: torch.Tensor, meta: dict) -> Dataset:
    inv = inverted.long()
    return Dataset(name="biased-fmnist", x=x, labels=y, groups=2 * y + inv, factors=torch.stack([fine, inv], 1),
                   factor_names=("fmnist_class", "inverted"), factor_sizes=(len(CLASSES), 2), value_range="unit",
                   meta=meta)


@register_source("biased-fmnist", factors=True)
def load_biased_fmnist(options: SourceOptions) -> DataSplits:
    """Train/val biased as in the module docstring; test = every test image plain and inverted (20,000 rows).

    Reads ``options.positive_classes``, ``options.rare_fraction``, ``options.seed`` (which images are inverted and
    which are validation), ``options.data_dir`` and ``options.n_samples`` (as ``fashion-mnist``).
    """
    check_fixed_size("biased-fmnist", options.image_size, (1, 28, 28))
    positive_classes = tuple(int(c) for c in options.positive_classes)
    check_bias_options(positive_classes, options.rare_fraction)
    base = load_fashion_mnist(options)
    positive = torch.tensor(positive_classes)
    meta = {"classes": ["negative", "positive"], "group_names": list(GROUP_NAMES), "sensitive": "inverted",
            "factor_value_names": {"fmnist_class": list(CLASSES), "inverted": list(INVERTED_NAMES)},
            "positive_classes": [CLASSES[c] for c in positive_classes], "rare_fraction": float(options.rare_fraction)}
    g = torch.Generator().manual_seed(int(options.seed) * 7 + 1)  # its own stream: independent of the val split
    train = _biased(base.train, positive, options.rare_fraction, g, meta)
    val = _biased(base.val, positive, options.rare_fraction, g, meta)
    t = base.test
    y = torch.isin(t.labels, positive).long()
    n = len(t)
    flags = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])
    test = _dataset(torch.cat([t.x, 1.0 - t.x]), y.repeat(2), t.labels.repeat(2), flags, dict(meta))
    if int((train.groups == 3).sum()) == 0:
        raise DataError("biased-fmnist: the training set holds no inverted positive image; raise rare_fraction "
                        "or n_samples")
    return DataSplits(train=train, val=val, test=test)
