"""scikit-learn's shipped 8x8 handwritten digits (1,797 images, 10 classes).

Pixels are integers 0..16; we divide by 16 so images lie in [0, 1], shape ``(N, 1, 8, 8)``.
``data.image_size`` is refused unless it is 8: the images are not resized.
"""

from __future__ import annotations

import torch

from .base import Dataset, check_fixed_size
from .registry import SourceOptions, register_source


@register_source("digits")
def load_digits(options: SourceOptions) -> Dataset:
    from sklearn.datasets import load_digits as _sk_digits

    check_fixed_size("digits", options.image_size, (1, 8, 8))  # 8x8 is all there is; nothing resizes it
    bunch = _sk_digits()
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    if options.n_samples is not None:
        x, y = x[: options.n_samples], y[: options.n_samples]
    return Dataset(name="digits", x=x, labels=y, value_range="unit")
