"""Pauli expectations from measured outcomes: basis groups, parities, standard errors.

A batch's Pauli words are split into qubit-wise commuting groups; each group is one measured
circuit (the template, a basis change, measure all) bound to the same parameter array. A word's
value per shot is the parity of its qubits' bits, so its mean is the expectation and
``sqrt(var / shots)`` its standard error (terms of one observable measured in the same group
are summed per shot first, so their covariance is included).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qclf.backends.template import PauliSum


def basis_groups(observables: Sequence[PauliSum], n: int) -> list[str]:
    """Greedy qubit-wise commuting measurement bases (``'Z'``/``'X'``/``'Y'`` per qubit)."""
    groups: list[list[str]] = []
    words = sorted({w for obs in observables for _, w in obs}, key=lambda w: -sum(
        c != "I" for c in w))
    for word in words:
        for g in groups:
            if all(c == "I" or g[i] in ("I", c) for i, c in enumerate(word)):
                for i, c in enumerate(word):
                    if c != "I":
                        g[i] = c
                break
        else:
            groups.append(list(word))
    return ["".join("Z" if c == "I" else c for c in g) for g in groups] or ["Z" * n]


def measures(basis: str, word: str) -> bool:
    return all(c == "I" or basis[i] == c for i, c in enumerate(word))


def bits(packed: np.ndarray, qubit: int) -> np.ndarray:
    """Bit of classical bit ``qubit`` from Qiskit's packed ``BitArray.array`` (big-endian)."""
    byte = packed[..., packed.shape[-1] - 1 - qubit // 8]
    return (byte >> (qubit % 8)) & 1


def histogram(packed: np.ndarray, n: int) -> np.ndarray:
    """``(B, 2**n)`` outcome counts from packed samples ``(B, shots, bytes)`` (bit q = qubit q)."""
    size = packed.shape[0]
    index = np.zeros(packed.shape[:2], dtype=np.int64)
    for q in range(n):
        index |= bits(packed, q).astype(np.int64) << q
    index += (np.arange(size) << n)[:, None]
    return np.bincount(index.ravel(), minlength=size << n).reshape(size, 1 << n).astype(float)


def _signs(word: str, dim: int) -> np.ndarray:
    """``(+1/-1)`` of a Pauli word's parity for each outcome index (bit q = qubit q)."""
    idx = np.arange(dim)
    parity = np.zeros(dim, dtype=np.int64)
    for q, c in enumerate(word):
        if c != "I":
            parity ^= (idx >> q) & 1
    return 1.0 - 2.0 * parity


def expectations_from_counts(observables: Sequence[PauliSum], bases: Sequence[str],
                             counts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`expectations`, from outcome histograms ``(B, 2**n)`` per basis (bit q of
    the outcome index is qubit q): the same estimator, with no per-shot records."""
    size, dim = counts[0].shape
    shots = counts[0].sum(1, keepdims=True)
    evs = np.zeros((size, len(observables)))
    var = np.zeros_like(evs)
    for m, obs in enumerate(observables):
        remaining = list(obs)
        for basis, hist in zip(bases, counts, strict=True):
            terms = [(c, w) for c, w in remaining if measures(basis, w)]
            if not terms:
                continue
            remaining = [t for t in remaining if t not in terms]
            value = sum(c * _signs(w, dim) for c, w in terms)  # per-outcome value
            mean = (hist @ value) / shots[:, 0]
            evs[:, m] += mean
            var[:, m] += ((hist @ value**2) / shots[:, 0] - mean**2) / shots[:, 0]
    return evs, np.sqrt(np.clip(var, 0, None))


def histogram_probabilities(hist: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """``(B, 2**k)`` frequencies of ``qubits`` (first listed most significant) from ``(B, 2**n)``
    histograms (bit q of the outcome index is qubit q)."""
    dim = hist.shape[1]
    idx = np.arange(dim)
    target = np.zeros(dim, dtype=np.int64)
    for q in qubits:
        target = (target << 1) | ((idx >> q) & 1)
    out = np.zeros((hist.shape[0], 1 << len(qubits)))
    np.add.at(out.T, target, hist.T)
    return out / hist.sum(1, keepdims=True)
