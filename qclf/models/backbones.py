"""Classical CNN backbones shared by hybrid models and their twins."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def conv_bn_relu_pool(c_in: int, c_out: int, kernel: int = 5, pool: int = 2,
                      batch_norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU())
    if pool > 1:
        layers.append(nn.MaxPool2d(pool))
    return nn.Sequential(*layers)


def conv_backbone(in_channels: int, channels: Sequence[int] = (16, 32), kernel: int = 5,
                  pool: int = 2, batch_norm: bool = True, adaptive_pool: int | None = None
                  ) -> nn.Sequential:
    """Stacked Conv+BN+ReLU+MaxPool blocks, then (optionally) adaptive pooling, then flatten.

    The HQNN-Parallel backbone (S1) is ``conv_backbone(1, (16, 32), kernel=5)``; S3's MNIST
    backbone adds ``adaptive_pool=4``.
    """
    blocks: list[nn.Module] = []
    c = in_channels
    for c_out in channels:
        blocks.append(conv_bn_relu_pool(c, c_out, kernel, pool, batch_norm))
        c = c_out
    if adaptive_pool:
        blocks.append(nn.AdaptiveAvgPool2d(adaptive_pool))
    blocks.append(nn.Flatten())
    return nn.Sequential(*blocks)
