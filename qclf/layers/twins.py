"""Classical twins: small classical blocks sized to a quantum layer's parameter count.

A twin has the same input and output shapes as the quantum layer it stands in for and a
trainable parameter count as close as possible to a target. The default shape is a hidden layer
of width h between input and output (each bias on or off), which covers every target from
``n_in + n_out`` upwards to within a few parameters. Targets it misses by more than
:data:`TOLERANCE` (small circuits on wide inputs, e.g. amplitude-encoded patches) use the
random-features shape instead: a fixed, seeded random projection to width h (buffers, not
trained, like the fixed feature map of an encoding) followed by a trainable map to the output.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

TOLERANCE = 0.05
TWIN_SEED = 1234


class TwinSize(NamedTuple):
    """Hidden width (0: no hidden layer), biases, and whether the first map is fixed."""

    hidden: int
    bias_in: bool
    bias_out: bool
    fixed_in: bool = False

    def n_params(self, n_in: int, n_out: int) -> int:
        """Trainable parameters."""
        if self.hidden == 0:
            return n_in * n_out + self.bias_out * n_out
        h = self.hidden
        first = 0 if self.fixed_in else h * n_in + self.bias_in * h
        return first + n_out * h + self.bias_out * n_out


def match_size(n_in: int, n_out: int, target: int) -> TwinSize:
    """The :class:`TwinSize` whose trainable parameter count is closest to ``target``."""
    max_h = max(1, target // max(1, n_in + n_out) + 1)
    dense = [TwinSize(0, False, b) for b in (True, False)] + [
        TwinSize(h, b1, b2)
        for h in range(1, max_h + 1)
        for b1, b2 in ((True, True), (True, False), (False, True), (False, False))
    ]
    miss = lambda s: abs(s.n_params(n_in, n_out) - target)  # noqa: E731
    best = min(dense, key=miss)
    if miss(best) <= max(1, TOLERANCE * target):
        return best
    random_features = [
        TwinSize(h, True, b, fixed_in=True)
        for h in range(1, max(1, target // max(1, n_out)) + 1)
        for b in (True, False)
    ]
    return min(dense + random_features, key=miss)


def freeze(module: nn.Module, seed: int) -> nn.Module:
    """Re-draw ``module``'s own parameters from ``seed`` and keep them as buffers (not trained).

    Weights are uniform in ±1/√fan_in (PyTorch's default scale), biases likewise.
    """
    gen = torch.Generator().manual_seed(seed)
    bound = module.weight[0].numel() ** -0.5  # fan_in of Linear and ConvNd weights
    for name, p in list(module.named_parameters(recurse=False)):
        value = (torch.rand(p.shape, generator=gen) * 2 - 1) * bound
        delattr(module, name)
        module.register_buffer(name, value)
    return module


def output_activation(measurement: object, dim: int = -1) -> nn.Module:
    """What maps a classical twin's output onto the quantum layer's output range."""
    return nn.Softmax(dim=dim) if measurement == "probs" else nn.Tanh()


def _two_maps(size: TwinSize, first: nn.Module, second: nn.Module, act: nn.Module) -> nn.Module:
    if size.fixed_in:
        freeze(first, TWIN_SEED)
    return nn.Sequential(first, nn.Tanh(), second, act)


def matched_mlp(n_in: int, n_out: int, target: int, activation: nn.Module) -> nn.Sequential:
    """``Linear -> tanh -> Linear -> activation`` (or one ``Linear``) with ≈ ``target`` params."""
    size = match_size(n_in, n_out, target)
    if size.hidden == 0:
        return nn.Sequential(nn.Linear(n_in, n_out, bias=size.bias_out), activation)
    return _two_maps(
        size,
        nn.Linear(n_in, size.hidden, bias=size.bias_in),
        nn.Linear(size.hidden, n_out, bias=size.bias_out),
        activation,
    )


def matched_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    target: int,
    activation: nn.Module,
) -> nn.Sequential:
    """``Conv(k) -> tanh -> Conv(1x1) -> activation`` (or one ``Conv(k)``), ≈ ``target`` params.

    Same output shape as ``nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)``.
    """
    n_in = in_channels * kernel_size[0] * kernel_size[1]
    size = match_size(n_in, out_channels, target)
    conv = dict(kernel_size=kernel_size, stride=stride, padding=padding)
    if size.hidden == 0:
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, bias=size.bias_out, **conv), activation
        )
    return _two_maps(
        size,
        nn.Conv2d(in_channels, size.hidden, bias=size.bias_in, **conv),
        nn.Conv2d(size.hidden, out_channels, kernel_size=1, bias=size.bias_out),
        activation,
    )


class ChunkwiseMLP(nn.Module):
    """Split the last axis into ``n_chunks`` equal chunks, map each with its own MLP, concatenate.

    The classical twin of :class:`~qclf.layers.ParallelCircuits`.
    """

    def __init__(
        self, n_chunks: int, chunk_in: int, chunk_out: int, target: int, activation: nn.Module
    ) -> None:
        super().__init__()
        self.n_chunks, self.chunk_in = n_chunks, chunk_in
        self.blocks = nn.ModuleList(
            matched_mlp(chunk_in, chunk_out, target // n_chunks, activation)
            for _ in range(n_chunks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.reshape(*x.shape[:-1], self.n_chunks, self.chunk_in).unbind(-2)
        return torch.cat([block(c) for block, c in zip(self.blocks, chunks, strict=True)], dim=-1)
