"""The classifier shape every registered model shares: backbone -> block -> head.

Hybrid models and their classical twins differ only in ``block``: the same backbone and head
with the quantum layer swapped for a classical module of matched parameter count. That is
what makes a comparison like for like.
"""

from __future__ import annotations

import torch
from torch import nn


class InputShapeError(ValueError):
    """Images do not have the shape the model was built for."""


class BlockClassifier(nn.Module):
    """``head(block(backbone(x)))`` with the input shape checked where it enters."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, backbone: nn.Module,
                 block: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.backbone = backbone
        self.block = block
        self.head = head

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            c, h, w = self.input_shape
            raise InputShapeError(
                f"{type(self).__name__} expects images of shape (batch, {c}, {h}, {w}), got "
                f"{tuple(x.shape)}. Build the model for this data set "
                "(create_model(name, dataset=...)) or resize the images."
            )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the block sees: useful for transfer learning and for probing the quantum layer."""
        self.check_input(x)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.features(x)))


def flat_size(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features ``module`` produces for one input of ``input_shape``."""
    with torch.no_grad():
        was = module.training
        module.eval()
        n = module(torch.zeros(1, *input_shape)).reshape(1, -1).shape[1]
        module.train(was)
    return int(n)
