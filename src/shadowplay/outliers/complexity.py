"""Input-complexity correction of the likelihood (Serrà et al. 2020).

Serrà, Álvarez, Gómez, Slizovskaia, Núñez & Luque, "Input complexity and out-of-distribution detection with
likelihood-based generative models", ICLR 2020, eq. 2:

    S(x) = −ℓ_M(x) − L(x),

ℓ_M(x) the model's log-likelihood of x in bits and L(x) the length in bits of x compressed by a generic lossless
compressor (the paper uses PNG, JPEG2000 and FLIF; here PNG through Pillow, at compression level 9). Simple inputs
(a blank image, a trouser) get a high likelihood from every model *and* compress well; subtracting L(x) leaves what
the model explains worse than a generic compressor would, which is large for inputs unlike the training data.
Both terms are totals over the image (not per dimension), so S is in bits per image; dividing both by the number of
dimensions, as the paper reports them, changes no ranking.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..model import LatentVariableModel
from .scores import neg_iwae

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def quantize(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Images ``(N, C, H, W)`` in [0, 1] → ``(N, H, W, C)`` uint8 (round(255·x)), the 8-bit image PNG stores."""
    a = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if a.ndim != 4 or a.shape[1] not in _MODES:
        raise DataError(f"the complexity score compresses images of shape (N, C, H, W) with C in 1, 3, 4; got "
                        f"{a.shape}. It is not defined for tabular data: pick another score")
    if a.min() < 0 or a.max() > 1:
        raise DataError("the complexity score needs images with values in [0, 1] (it compresses them as 8-bit "
                        f"PNG); these lie in [{a.min():.3g}, {a.max():.3g}]")
    return np.rint(a * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def png_bits(x: torch.Tensor | np.ndarray, compress_level: int = 9) -> np.ndarray:
    """L(x) ``(N,)`` float64: bits of each image ``(N, C, H, W)`` in [0, 1] as an 8-bit PNG (Pillow)."""
    imgs = quantize(x)
    out = np.empty(len(imgs))
    for i, im in enumerate(imgs):
        buf = io.BytesIO()
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im, _MODES[im.shape[-1]]).save(
            buf, format="PNG", compress_level=compress_level)
        out[i] = 8 * buf.getbuffer().nbytes
    return out


def complexity_corrected(model: LatentVariableModel, x: torch.Tensor, *, iw_samples: int = 100, seed: int = 0,
                         batch_size: int = 4096, nll: np.ndarray | None = None) -> np.ndarray:
    """S(x) = −log₂ p(x) − L(x) ``(N,)`` in bits (Serrà et al. 2020, eq. 2).

    −log p(x) is the importance-weighted estimate −L_K (nats, converted to bits); pass ``nll`` (nats, ``(N,)``) to
    reuse one already computed.
    """
    if nll is None:
        nll = neg_iwae(model, x, iw_samples=iw_samples, seed=seed, batch_size=batch_size)
    return np.asarray(nll, np.float64) / math.log(2) - png_bits(x)
