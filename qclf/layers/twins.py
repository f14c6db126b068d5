"""Classical twins: small classical blocks sized to a quantum layer's parameter count.

A twin has the same input and output shapes as the quantum layer it stands in for and a
parameter count as close as possible to a target: a hidden layer of width h between input and
output, with each bias switched on or off, covers every target from ``n_in + n_out`` up to within
a few parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class TwinSize(NamedTuple):
    """Hidden width (0: no hidden layer) and whether each of the two maps has a bias."""

    hidden: int
    bias_in: bool
    bias_out: bool

    def n_params(self, n_in: int, n_out: int) -> int:
        if self.hidden == 0:
            return n_in * n_out + self.bias_out * n_out
        h = self.hidden
        return h * n_in + self.bias_in * h + n_out * h + self.bias_out * n_out


def match_size(n_in: int, n_out: int, target: int) -> TwinSize:
    """The :class:`TwinSize` whose parameter count is closest to ``target`` (biases preferred)."""
    options = [TwinSize(0, False, b) for b in (True, False)]
    max_h = max(1, target // max(1, n_in + n_out) + 1)
    options += [
        TwinSize(h, b1, b2)
        for h in range(1, max_h + 1)
        for b1, b2 in ((True, True), (True, False), (False, True), (False, False))
    ]
    return min(options, key=lambda s: abs(s.n_params(n_in, n_out) - target))


def output_activation(measurement: object) -> nn.Module:
    """What maps a classical twin's output onto the quantum layer's output range."""
    return nn.Softmax(dim=-1) if measurement == "probs" else nn.Tanh()


def matched_mlp(n_in: int, n_out: int, target: int, activation: nn.Module) -> nn.Sequential:
    """``Linear -> tanh -> Linear -> activation`` (or one ``Linear``) with ≈ ``target`` params."""
    size = match_size(n_in, n_out, target)
    if size.hidden == 0:
        return nn.Sequential(nn.Linear(n_in, n_out, bias=size.bias_out), activation)
    return nn.Sequential(
        nn.Linear(n_in, size.hidden, bias=size.bias_in),
        nn.Tanh(),
        nn.Linear(size.hidden, n_out, bias=size.bias_out),
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
