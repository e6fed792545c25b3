"""Fully connected encoder/decoder for flat, tabular or small images (flattened)."""

from __future__ import annotations

import math

import torch
from torch import nn


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """``(B, *in_shape)`` → ``(B, out_dim)``: Linear-ReLU stack over the flattened input."""

    def __init__(self, in_shape: tuple[int, ...], out_dim: int, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.net = _mlp([math.prod(in_shape), *hidden, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """``(B, latent_dim)`` → ``(B, *out_shape)``: the encoder's widths reversed."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = _mlp([latent_dim, *reversed(hidden), math.prod(out_shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)
