"""Encoder and decoder networks, chosen from the data shape unless the user names one."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

from .conv import SUPPORTED_SIDES, ConvDecoder, ConvEncoder
from .mlp import MLPDecoder, MLPEncoder

NETS = ("mlp", "conv")  # what model.net may name besides "auto"


def pick_net(shape: tuple[int, ...], net: str = "auto") -> str:
    """``"conv"`` for square images of a side the conv net takes, ``"mlp"`` otherwise (or as asked)."""
    if net == "auto":
        is_conv_image = len(shape) == 3 and shape[1] == shape[2] and shape[1] in SUPPORTED_SIDES
        return "conv" if is_conv_image else "mlp"
    if net not in NETS:
        raise ConfigError(f"unknown net {net!r}; choose auto, {', '.join(NETS)}")
    return net


def build_nets(shape: tuple[int, ...], latent_dim: int, enc_out: int, net: str = "auto",
               hidden: tuple[int, ...] = (512, 256), channels: tuple[int, ...] = (32, 32, 64, 64)
               ) -> tuple[nn.Module, nn.Module]:
    """Encoder ``(B, *shape) → (B, enc_out)`` and decoder ``(B, latent_dim) → (B, *shape)``."""
    kind = pick_net(shape, net)
    if kind == "conv":
        return ConvEncoder(shape, enc_out, channels), ConvDecoder(latent_dim, shape, channels)
    return MLPEncoder(shape, enc_out, hidden), MLPDecoder(latent_dim, shape, hidden)


__all__ = ["NETS", "build_nets", "pick_net", "ConvEncoder", "ConvDecoder", "MLPEncoder", "MLPDecoder"]
