"""Evaluation of a classifier on a data set: accuracy, loss and confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class NonFiniteInputError(ValueError):
    """A batch of images contains NaN or infinity."""


def check_finite(x: torch.Tensor, where: str) -> None:
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x.reshape(x.shape[0], -1))).any(dim=1).nonzero().flatten()
        raise NonFiniteInputError(
            f"{where}: {len(bad)} image(s) contain NaN or infinity (batch rows "
            f"{bad[:8].tolist()}). Clean or impute the data set before training; qclf does not "
            "drop samples silently."
        )


@dataclass
class Evaluation:
    accuracy: float
    loss: float
    confusion: np.ndarray  # rows: true class, columns: predicted class

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, "confusion": self.confusion.tolist()}


@torch.no_grad()
def evaluate(model: nn.Module, dataset, num_classes: int, batch_size: int = 256,
             device: torch.device | str = "cpu", loss_fn: nn.Module | None = None,
             progress: bool = False, desc: str = "evaluate") -> Evaluation:
    """Accuracy and mean loss of ``model`` on every sample of ``dataset`` (no shuffling)."""
    from tqdm.auto import tqdm

    loss_fn = loss_fn or nn.CrossEntropyLoss(reduction="sum")
    was_training = model.training
    model.eval()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    total_loss, n = 0.0, len(dataset)
    try:
        for idx in tqdm(torch.arange(n).split(batch_size), desc=desc, unit="batch",
                        leave=False, disable=not progress, dynamic_ncols=True):
            x, y = dataset[idx]
            check_finite(x, "evaluation")
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(loss_fn(logits, y))
            pred = logits.argmax(dim=1).cpu().numpy()
            np.add.at(confusion, (y.cpu().numpy(), pred), 1)
    finally:
        model.train(was_training)
    correct = int(np.trace(confusion))
    return Evaluation(accuracy=correct / max(n, 1), loss=total_loss / max(n, 1),
                      confusion=confusion)
