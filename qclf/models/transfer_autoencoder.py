"""S6 "Quantum Transfer Learning for MNIST Classification" (2024): autoencoder + 5-qubit circuit.

Pipeline (papers.md, v2): an autoencoder 784 -> 64 latent, trained first on the training images;
PCA 64 -> 5 on the latent codes; RY(feature) per qubit, Hadamards and a CNOT cascade on 5 qubits
(catalogue ``transfer_cascade``, no trainable weights); the 32-outcome distribution feeds a dense
network with BatchNorm and Dropout. The autoencoder and PCA form the pre-training stage, run by
:meth:`PretrainedClassifier.prepare_fit` (deterministic given the seed) and kept frozen.

Registered:

* ``transfer_autoencoder`` -- the hybrid.
* ``classical_transfer_autoencoder`` -- twin: the same 5 features and head, the circuit replaced by
  a fixed classical map 5 -> 32 (``softmax(R x + c)``, R and c seeded buffers): like the circuit it
  has no trainable weights, so trainable counts are equal.
* ``s6_paper_classical`` -- the paper's classical baseline: the head on the 64-d latent (no PCA,
  no circuit). Named as a baseline, not a twin: it sees 64 features, not 5.

PCA scores are min-max scaled to [0, pi] on the training codes before they become RY angles (the
paper does not record its scaling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from qclf.circuits import build_qnode
from qclf.models.base import BlockClassifier
from qclf.models.registry import register_model
from qclf.quantum import TorchLayer


class AutoencoderFeatures(nn.Module):
    """Frozen encoder ``D -> 256 -> latent`` (and optionally PCA ``latent -> k`` scaled to
    [0, pi]); :meth:`fit` trains it as an autoencoder and fits the PCA."""

    def __init__(self, in_features: int, latent: int = 64, hidden: int = 256,
                 n_components: int | None = 5) -> None:
        super().__init__()
        self.in_features, self.latent, self.n_components = in_features, latent, n_components
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                     nn.Linear(hidden, latent))
        self.encoder.requires_grad_(False)  # pre-trained, never trained by the classifier loop
        k = n_components or 0
        self.register_buffer("pca_mean", torch.zeros(latent))
        self.register_buffer("pca_components", torch.zeros(k, latent))
        self.register_buffer("pca_low", torch.zeros(k))
        self.register_buffer("pca_high", torch.ones(k))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def out_features(self) -> int:
        return self.n_components or self.latent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        if not self.n_components:
            return z
        s = (z - self.pca_mean) @ self.pca_components.T
        return math.pi * (s - self.pca_low) / (self.pca_high - self.pca_low)

    @torch.no_grad()
    def _codes(self, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        return torch.cat([self.encoder(x[i:i + batch]) for i in range(0, len(x), batch)])

    def fit(self, images: torch.Tensor, seed: int, epochs: int = 5, batch_size: int = 128,
            lr: float = 1e-3, progress: bool = False) -> list[float]:
        """Train encoder+decoder on ``images`` (N, C, H, W) in [0, 1] (MSE on a sigmoid output),
        keep the encoder, fit the PCA on its codes. Deterministic given ``seed``; leaves the
        global RNG untouched. Returns the mean loss per epoch."""
        device = self.pca_mean.device
        x = images.reshape(len(images), -1).to(device)
        losses: list[float] = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            enc = nn.Sequential(*[_clone_trainable(m) for m in self.encoder]).to(device)
            dec = nn.Sequential(nn.Linear(self.latent, enc[1].out_features), nn.ReLU(),
                                nn.Linear(enc[1].out_features, self.in_features),
                                nn.Sigmoid()).to(device)
            opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
            gen = torch.Generator().manual_seed(seed)
            for epoch in range(epochs):
                order = torch.randperm(len(x), generator=gen).to(device)
                total = 0.0
                for i in range(0, len(x), batch_size):
                    xb = x[order[i:i + batch_size]]
                    loss = nn.functional.mse_loss(dec(enc(xb)), xb)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(xb)
                losses.append(total / len(x))
                if progress:
                    print(f"autoencoder epoch {epoch + 1}/{epochs}: mse {losses[-1]:.4f}")
        with torch.no_grad():
            for dst, src in zip(self.encoder.parameters(), enc.parameters(), strict=True):
                dst.copy_(src)
            if self.n_components:
                self._fit_pca(self._codes(x))
            self.fitted.fill_(True)
        return losses

    def _fit_pca(self, z: torch.Tensor) -> None:
        zd = z.double()
        mean = zd.mean(0)
        _, _, vh = torch.linalg.svd(zd - mean, full_matrices=False)
        comps = vh[: self.n_components]
        # SVD signs are arbitrary: make each component's largest entry positive (deterministic)
        idx = comps.abs().argmax(1)
        comps = comps * torch.sign(comps.gather(1, idx[:, None]))
        s = (zd - mean) @ comps.T
        low, high = s.min(0).values, s.max(0).values
        self.pca_mean.copy_(mean.float())
        self.pca_components.copy_(comps.float())
        self.pca_low.copy_(low.float())
        self.pca_high.copy_(torch.maximum(high, low + 1e-6).float())


def _clone_trainable(m: nn.Module) -> nn.Module:
    if isinstance(m, nn.Linear):
        return nn.Linear(m.in_features, m.out_features)
    return type(m)()


class PretrainedClassifier(BlockClassifier):
    """A :class:`BlockClassifier` whose backbone is pre-trained by ``prepare_fit``."""

    def __init__(self, *args: Any, ae_epochs: int = 5, ae_lr: float = 1e-3,
                 ae_limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ae_epochs, self.ae_lr, self.ae_limit = ae_epochs, ae_lr, ae_limit

    def prepare_fit(self, train_set: Any, device: Any = None, seed: int = 0,
                    progress: bool = False) -> None:
        """Train the autoencoder (and PCA) on the training images; fills frozen weights and
        buffers only."""
        n = len(train_set) if self.ae_limit is None else min(len(train_set), self.ae_limit)
        images, _ = train_set[torch.arange(n)]
        self.backbone.fit(images, seed=seed, epochs=self.ae_epochs, lr=self.ae_lr,
                          progress=progress)


def dense_head(n_in: int, num_classes: int, hidden: Sequence[int], dropout: float) -> nn.Module:
    """Linear + BatchNorm + ReLU + Dropout per hidden width, then Linear to the classes."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
        n_in = h
    layers.append(nn.Linear(n_in, num_classes))
    return nn.Sequential(*layers)


class FixedProbabilityMap(nn.Module):
    """``softmax(R x + c)`` with a seeded random R, c (buffers): a classical 5 -> 32 map onto
    the simplex with no trainable weights, standing in for S6's weightless circuit."""

    def __init__(self, n_in: int, n_out: int, seed: int = 1234) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", torch.randn(n_out, n_in, generator=gen))
        self.register_buffer("bias", torch.randn(n_out, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x @ self.weight.T + self.bias, -1)


def _build(kind: str, num_classes: int, input_shape: tuple[int, int, int], n_qubits: int,
           rotation: str, latent: int, hidden: Sequence[int], dropout: float, ae_epochs: int,
           ae_lr: float, ae_limit: int | None) -> PretrainedClassifier:
    in_features = math.prod(input_shape)
    if kind == "paper_classical":
        backbone = AutoencoderFeatures(in_features, latent, n_components=None)
        block: nn.Module = nn.Identity()
        width = latent
    else:
        backbone = AutoencoderFeatures(in_features, latent, n_components=n_qubits)
        width = 2**n_qubits
        if kind == "hybrid":
            qnode, shapes = build_qnode(n_qubits, "angle", "transfer_cascade", 1, "probs",
                                        encoding_kw={"rotation": rotation})
            block = TorchLayer(qnode, shapes)
        else:
            block = FixedProbabilityMap(n_qubits, width)
    return PretrainedClassifier(input_shape, num_classes, backbone, block,
                                dense_head(width, num_classes, hidden, dropout),
                                ae_epochs=ae_epochs, ae_lr=ae_lr, ae_limit=ae_limit)


@register_model("transfer_autoencoder", paper="S6", kind="hybrid",
                twin="classical_transfer_autoencoder")
def transfer_autoencoder(num_classes: int, input_shape: tuple[int, int, int], n_qubits: int = 5,
                         rotation: str = "Y", latent: int = 64, hidden: Sequence[int] = (64,),
                         dropout: float = 0.2, ae_epochs: int = 5, ae_lr: float = 1e-3,
                         ae_limit: int | None = None) -> PretrainedClassifier:
    """Autoencoder + PCA(5) + 5-qubit H/CNOT-cascade circuit + dense head (S6)."""
    return _build("hybrid", num_classes, input_shape, n_qubits, rotation, latent, hidden, dropout,
                  ae_epochs, ae_lr, ae_limit)


@register_model("classical_transfer_autoencoder", paper="S6", kind="classical",
                twin_of="transfer_autoencoder")
def classical_transfer_autoencoder(num_classes: int, input_shape: tuple[int, int, int],
                                   n_qubits: int = 5, rotation: str = "Y", latent: int = 64,
                                   hidden: Sequence[int] = (64,), dropout: float = 0.2,
                                   ae_epochs: int = 5, ae_lr: float = 1e-3,
                                   ae_limit: int | None = None) -> PretrainedClassifier:
    """S6 twin: same 5 PCA features and head, a fixed classical 5 -> 32 map for the circuit."""
    return _build("twin", num_classes, input_shape, n_qubits, rotation, latent, hidden, dropout,
                  ae_epochs, ae_lr, ae_limit)


@register_model("s6_paper_classical", paper="S6", kind="baseline",
                baseline_of="transfer_autoencoder")
def s6_paper_classical(num_classes: int, input_shape: tuple[int, int, int], latent: int = 64,
                       hidden: Sequence[int] = (64,), dropout: float = 0.2, ae_epochs: int = 5,
                       ae_lr: float = 1e-3, ae_limit: int | None = None) -> PretrainedClassifier:
    """S6 paper's classical baseline: the dense head on the 64-d autoencoder latent."""
    return _build("paper_classical", num_classes, input_shape, 5, "Y", latent, hidden, dropout,
                  ae_epochs, ae_lr, ae_limit)
