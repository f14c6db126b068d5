"""What a cut circuit measures, as Pauli words: expectation values and probabilities.

Every supported measurement is a linear map of Pauli-word expectations, and a Pauli word splits
into one factor per fragment, which is what the wire-cut identity needs:

- ``expval(O)`` for any ``O`` with a Pauli representation (words, products, sums with
  coefficients): ``sum_w c_w <w>``;
- ``probs(wires)`` over ``m`` wires: ``p(b) = 2^-m sum_S (prod_{i in S} (-1)^{b_i}) <Z_S>``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import pennylane as qml
import torch

from qclf.cutting.graph import CutError

Word = tuple[tuple[Hashable, str], ...]  # sorted ((wire, "X"|"Y"|"Z"), ...); () is identity


def _word(pw) -> Word:
    return tuple(sorted(((w, str(p)) for w, p in pw.items()), key=lambda t: str(t[0])))


def measurement_words(measurements: Sequence, wires: Sequence[Hashable]
                      ) -> tuple[list[Word], torch.Tensor, list[tuple[str, int]]]:
    """Pauli words, the float64 matrix ``(outputs, words)`` and each measurement's kind/size."""
    words: dict[Word, int] = {}
    rows: list[dict[int, float]] = []
    kinds: list[tuple[str, int]] = []

    def index(word: Word) -> int:
        return words.setdefault(word, len(words))

    for m in measurements:
        if isinstance(m, qml.measurements.ExpectationMP) and m.obs is not None:
            rep = m.obs.pauli_rep
            if rep is None:
                raise CutError(f"expval({m.obs}) has no Pauli representation; circuit cutting "
                               "supports expectation values of Pauli words and sums of them")
            rows.append({index(_word(pw)): float(c.real) if hasattr(c, "real") else float(c)
                         for pw, c in rep.items()})
            kinds.append(("expval", 1))
        elif isinstance(m, qml.measurements.ProbabilityMP) and m.obs is None:
            mw = list(m.wires) if len(m.wires) else list(wires)
            k = len(mw)
            for b in range(2**k):
                bits = [(b >> (k - 1 - i)) & 1 for i in range(k)]
                row: dict[int, float] = {}
                for mask in range(2**k):
                    sub = [i for i in range(k) if (mask >> i) & 1]
                    sign = (-1) ** sum(bits[i] for i in sub)
                    word = _word({mw[i]: "Z" for i in sub})
                    row[index(word)] = row.get(index(word), 0.0) + sign / 2**k
                rows.append(row)
            kinds.append(("probs", 2**k))
        else:
            raise CutError(f"{m} cannot be cut: split() supports expval of Pauli words (or sums) "
                           "and probs of wires")
    matrix = torch.zeros(len(rows), len(words), dtype=torch.float64)
    for r, row in enumerate(rows):
        for c, v in row.items():
            matrix[r, c] = v
    return list(words), matrix, kinds


def pauli_op(word: Sequence[tuple[Hashable, str]]):
    """The PennyLane operator of a non-empty word."""
    ops = [{"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}[p](w) for w, p in word]
    return ops[0] if len(ops) == 1 else qml.prod(*ops)
