"""Convolutional encoder/decoder for 28×28, 32×32 and 64×64 images.

The layout follows the architecture used across the β-VAE literature (Higgins et al. 2017; Burgess et al. 2018,
appendix; Locatello et al. 2019, table 1): 4×4 convolutions with stride 2 halve the side down to 4×4 (7×7 for
28 px), then a 256-unit fully connected layer; the decoder mirrors it with transposed convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

SUPPORTED_SIDES = {28: 2, 32: 3, 64: 4}  # side → number of stride-2 layers


def _check_shape(shape: tuple[int, ...]) -> int:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in SUPPORTED_SIDES:
        raise ConfigError(f"the conv net takes square images of side {sorted(SUPPORTED_SIDES)} with shape (C, H, W); "
                         f"got {shape}. Use --net mlp, or, for a folder of images, resize them with the override "
                         "data.image_size=32 (or 28, 64)")
    return SUPPORTED_SIDES[shape[1]]


def _widths(channels: tuple[int, ...], n: int) -> list[int]:
    return [channels[min(i, len(channels) - 1)] for i in range(n)]


class ConvEncoder(nn.Module):
    """``(B, C, S, S)`` → ``(B, out_dim)``."""

    def __init__(self, in_shape: tuple[int, ...], out_dim: int, channels: tuple[int, ...] = (32, 32, 64, 64),
                 fc: int = 256):
        super().__init__()
        n = _check_shape(in_shape)
        widths = _widths(channels, n)
        layers: list[nn.Module] = []
        c = in_shape[0]
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, stride=2, padding=1), nn.ReLU()]
            c = w
        side = in_shape[1] >> n
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, fc), nn.ReLU(), nn.Linear(fc, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))


class ConvDecoder(nn.Module):
    """``(B, latent_dim)`` → ``(B, C, S, S)`` distribution parameters (e.g. Bernoulli logits)."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], channels: tuple[int, ...] = (32, 32, 64, 64),
                 fc: int = 256):
        super().__init__()
        n = _check_shape(out_shape)
        widths = list(reversed(_widths(channels, n)))
        self.side = out_shape[1] >> n
        self.c0 = widths[0]
        self.fc = nn.Sequential(nn.Linear(latent_dim, fc), nn.ReLU(), nn.Linear(fc, self.c0 * self.side ** 2),
                                nn.ReLU())
        layers: list[nn.Module] = []
        for i, w in enumerate(widths):
            out = widths[i + 1] if i + 1 < len(widths) else out_shape[0]
            layers.append(nn.ConvTranspose2d(w, out, 4, stride=2, padding=1))
            if i + 1 < len(widths):
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.c0, self.side, self.side)
        return self.deconv(h)
