"""White-box L∞ adversarial attacks (FGSM, PGD) and robust accuracy.

Gradients are plain autograd through the whole model, the quantum layer included, so a hybrid
is attacked exactly as hard as its classical twin: no gradient masking by a non-differentiable
circuit, no surrogate model. Inputs live in [0, 1] and every adversarial image is clamped there.
The model is put in eval mode for the attack (BatchNorm/Dropout behave as at test time) and
restored afterwards. PGD's random start is drawn from a ``torch.Generator`` only, so an attack is
reproducible and never moves the global RNG a training run depends on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

METHODS = ("fgsm", "pgd")


class AttackError(ValueError):
    """Bad attack settings (unknown method, negative eps, ...)."""


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not eps >= 0:
        raise AttackError(f"eps must be >= 0 (an L∞ radius in pixel units of [0, 1]), got {eps}")
    return eps


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d loss / d x with parameters left untouched (no .grad accumulates on the model)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``clamp(x + eps·sign(∇x L), 0, 1)``."""
    eps = _check_eps(eps)
    if eps == 0:
        return x.detach().clone()
    with _eval_mode(model):
        grad = _input_grad(model, x, y)
    return (x.detach() + eps * grad.sign()).clamp_(0.0, 1.0)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
        steps: int = 10, random_start: bool = True, generator: torch.Generator | None = None
        ) -> torch.Tensor:
    """Projected gradient descent in the L∞ ball (Madry et al. 2018).

    ``steps`` signed-gradient steps of size ``alpha`` (default ``2.5·eps/steps``), each followed
    by projection onto ``[x - eps, x + eps] ∩ [0, 1]``. With ``random_start`` the first iterate is
    uniform in the ball, drawn from ``generator`` (CPU; a fresh one seeded 0 if None).
    """
    eps = _check_eps(eps)
    if steps < 1:
        raise AttackError(f"pgd needs steps >= 1, got {steps}")
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    if not alpha > 0 and eps > 0:
        raise AttackError(f"pgd step size alpha must be > 0, got {alpha}")
    x0 = x.detach()
    if eps == 0:
        return x0.clone()
    lo, hi = (x0 - eps).clamp(min=0.0), (x0 + eps).clamp(max=1.0)
    if random_start:
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype) * 2 - 1
        adv = (x0 + eps * noise.to(x0.device)).clamp(0.0, 1.0)
    else:
        adv = x0.clone()
    with _eval_mode(model):
        for _ in range(steps):
            grad = _input_grad(model, adv, y)
            adv = torch.max(torch.min(adv + alpha * grad.sign(), hi), lo)
    return adv.detach()


def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: str, eps: float,
           alpha: float | None = None, steps: int = 10, random_start: bool = True,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial images by ``method`` (``fgsm`` or ``pgd``)."""
    if method == "fgsm":
        return fgsm(model, x, y, eps)
    if method == "pgd":
        return pgd(model, x, y, eps, alpha=alpha, steps=steps, random_start=random_start,
                   generator=generator)
    raise AttackError(f"unknown attack {method!r}; expected one of {METHODS}")


def robust_accuracy(model: nn.Module, dataset, method: str, eps: float, *,
                    alpha: float | None = None, steps: int = 10, random_start: bool = True,
                    limit: int | None = None, batch_size: int = 256, seed: int = 0,
                    device: torch.device | str = "cpu", return_clean: bool = False
                    ) -> float | tuple[float, float]:
    """Accuracy on adversarial versions of ``dataset`` (every sample, or a stratified ``limit``).

    ``dataset[idx_tensor] -> (x, y)`` as :class:`qclf.data.ImageDataset`. Deterministic given
    ``seed`` (the subset and PGD's random starts). With ``return_clean`` also returns the clean
    accuracy on the same samples, so the two numbers are comparable.
    """
    if method not in METHODS:
        raise AttackError(f"unknown attack {method!r}; expected one of {METHODS}")
    n = len(dataset)
    if limit is not None and limit < n:
        from qclf.data.splits import stratified_subset

        _, labels = dataset[torch.arange(n)]
        order = torch.as_tensor(stratified_subset(labels.numpy(), int(limit), seed))
    else:
        order = torch.arange(n)
    gen = torch.Generator().manual_seed(int(seed))
    correct = clean = 0
    for idx in order.split(batch_size):
        x, y = dataset[idx]
        x, y = x.to(device), y.to(device)
        adv = attack(model, x, y, method, eps, alpha=alpha, steps=steps,
                     random_start=random_start, generator=gen)
        with torch.no_grad(), _eval_mode(model):
            correct += int((model(adv).argmax(1) == y).sum())
            if return_clean:
                clean += int((model(x).argmax(1) == y).sum())
    total = max(len(order), 1)
    if return_clean:
        return correct / total, clean / total
    return correct / total


__all__ = ["METHODS", "AttackError", "attack", "fgsm", "pgd", "robust_accuracy"]
