"""Checks the engine tests share: a PennyLane layer and a qclf layer with the same weights,
and autograd quantities computed the same way on both, then compared."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from qclf.quantum import TorchLayer


def layer_pair(circuit, weight_shapes, dtype=torch.float64, seed=0, **options):
    """(PennyLane's layer, qclf's strict layer with ``options``) on ``circuit``, same initial
    weights."""
    torch.manual_seed(seed)
    ref = qml.qnn.TorchLayer(circuit, weight_shapes).to(dtype)
    new = TorchLayer(circuit, weight_shapes, strict=True, **options).to(dtype)
    new.load_state_dict(ref.state_dict())
    return ref, new


def penalty_gradients(layer, x) -> tuple:
    """Gradients (inputs, weights) of a weighted output sum, taken with ``create_graph``, and
    the gradients of their squared norm (a gradient penalty): second derivatives."""
    xi = x.clone().requires_grad_(True)
    y = layer(xi)
    scale = torch.arange(1.0, y.shape[-1] + 1, dtype=y.dtype)
    gx, gw = torch.autograd.grad((y * scale).sum(), (xi, layer.weights), create_graph=True)
    hx, hw = torch.autograd.grad((gx**2).sum() + (gw**2).sum(), (xi, layer.weights))
    return gx.detach(), gw.detach(), hx, hw


def vectorized_jacobians(layer, x) -> tuple:
    """Jacobians of the outputs by inputs (``jacobian(..., vectorize=True)``) and by weights
    (``autograd.grad(..., is_grads_batched=True)``): the backward under vmap."""
    jx = torch.autograd.functional.jacobian(layer, x, vectorize=True)
    y = layer(x).reshape(-1)
    (jw,) = torch.autograd.grad(y, layer.weights, torch.eye(y.shape[0], dtype=y.dtype),
                                is_grads_batched=True)  # fmt: skip
    return jx, jw


def checkpointed_gradients(layer, x) -> tuple:
    """Gradients (inputs, weights) of the output sum through a non-reentrant
    ``torch.utils.checkpoint``, which recomputes the forward in the backward."""
    xi = x.clone().requires_grad_(True)
    torch.utils.checkpoint.checkpoint(layer, xi, use_reentrant=False).sum().backward()
    return xi.grad, layer.weights.grad


def assert_same(check, ref, new, x, atol) -> None:
    """``check(layer, x)`` on both layers agrees to ``atol``, tensor by tensor."""
    for a, b in zip(check(ref, x), check(new, x), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=atol, rtol=0)
