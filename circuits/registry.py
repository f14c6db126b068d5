"""The circuit catalogue: one registry entry per named encoding or ansatz.

Each entry is a :class:`Circuit`, a frozen record that pairs the PennyLane circuit function with
the facts a caller needs without reading its body: how many weights it takes at a given size
(``shape``), how many features an encoding consumes (``n_features``), and where it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from qclf.registry import Registry

Kind = Literal["encoding", "ansatz"]
KINDS: tuple[str, ...] = ("encoding", "ansatz")

REFERENCE_QUBITS = 4
REFERENCE_DEPTH = 1


def no_weights(n_qubits: int, depth: int) -> tuple[int, ...]:
    """Weight shape of a circuit without trainable weights."""
    return (0,)


@dataclass(frozen=True)
class Circuit:
    """A named catalogue circuit.

    Args:
        name: the name configs use.
        kind: ``"encoding"`` (called as ``fn(inputs, wires, **cfg)``) or ``"ansatz"`` (called as
            ``fn(weights, wires, **cfg)``).
        fn: the PennyLane circuit function; it queues gates and returns nothing.
        shape: ``(n_qubits, depth) -> weight shape``; ``(0,)`` for circuits without weights.
        n_features: encodings only, ``n_qubits -> number of input features`` consumed at most.
        fixed_qubits: the only qubit count the circuit is defined for, if any.
        min_qubits: the smallest qubit count the circuit is defined for (an int, or a function
            of the depth).
        layered: the weights' leading axis is the depth, one slice per layer, so
            ``fn(weights[l : l + 1], ...)`` is one layer (required for data re-uploading).
        source: the paper (or tag in ``papers.md``) the circuit comes from.
        description: one line for ``qclf list circuits``.
    """

    name: str
    kind: Kind
    fn: Callable[..., Any]
    shape: Callable[[int, int], tuple[int, ...]] = no_weights
    n_features: Callable[[int], int] | None = None
    fixed_qubits: int | None = None
    min_qubits: int | Callable[[int], int] = 1
    layered: bool = False
    source: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"circuit kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "encoding" and self.n_features is None:
            raise ValueError(f"encoding {self.name!r} needs n_features")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def n_weights(self, n_qubits: int, depth: int = 1) -> int:
        """Number of trainable weights at this size."""
        return math.prod(self.shape(n_qubits, depth))

    def qubits_needed(self, depth: int = 1) -> int:
        """The smallest qubit count the circuit is defined for at this depth."""
        return self.min_qubits(depth) if callable(self.min_qubits) else self.min_qubits

    def check_qubits(self, n_qubits: int, depth: int = 1) -> None:
        """Raise ``ValueError`` if the circuit is not defined on ``n_qubits`` qubits."""
        if self.fixed_qubits is not None and n_qubits != self.fixed_qubits:
            raise ValueError(
                f"{self.kind} {self.name!r} is defined on exactly {self.fixed_qubits} qubits, "
                f"got n_qubits={n_qubits}"
            )
        needed = self.qubits_needed(depth)
        if n_qubits < needed:
            raise ValueError(
                f"{self.kind} {self.name!r} needs at least {needed} qubits at depth {depth}, "
                f"got n_qubits={n_qubits}"
            )


CIRCUITS: Registry[Circuit] = Registry("circuit")


def register_circuit(
    name: str,
    kind: Kind,
    *,
    shape: Callable[[int, int], tuple[int, ...]] = no_weights,
    n_features: Callable[[int], int] | None = None,
    fixed_qubits: int | None = None,
    min_qubits: int | Callable[[int], int] = 1,
    layered: bool = False,
    source: str = "",
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a circuit function under ``name`` and return it unchanged.

    The description defaults to the first line of the function's docstring.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        entry = Circuit(
            name=name,
            kind=kind,
            fn=fn,
            shape=shape,
            n_features=n_features,
            fixed_qubits=fixed_qubits,
            min_qubits=min_qubits,
            layered=layered,
            source=source,
            description=description if description is not None else (doc[0] if doc else ""),
        )
        CIRCUITS.register(name, kind=kind)(entry)
        return fn

    return deco


def get_circuit(name: str, kind: Kind | None = None) -> Circuit:
    """The catalogue entry called ``name``; unknown names raise with close matches."""
    circuit = CIRCUITS.get(name)
    if kind is not None and circuit.kind != kind:
        others = ", ".join(list_circuits(kind))
        raise ValueError(f"{name!r} is an {circuit.kind}, not an {kind}; {kind}s: {others}")
    return circuit


def list_circuits(kind: Kind | None = None, pattern: str = "*") -> list[str]:
    """Registered circuit names (optionally one kind, optionally a glob pattern), sorted."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    return [n for n in CIRCUITS.names(pattern) if kind is None or CIRCUITS.get(n).kind == kind]


def describe(
    kind: Kind | None = None, n_qubits: int = REFERENCE_QUBITS, depth: int = REFERENCE_DEPTH
) -> list[dict[str, Any]]:
    """Rows for ``qclf list circuits``: name, kind, qubits, weights at a reference size, source.

    Circuits with a fixed qubit count are reported at that count; ``weights`` is the number of
    trainable weights of an ansatz at (``qubits``, ``depth``) and the number of input features an
    encoding consumes is in ``features``.
    """
    rows = []
    for name in list_circuits(kind):
        c = CIRCUITS.get(name)
        q = c.fixed_qubits if c.fixed_qubits is not None else max(n_qubits, c.qubits_needed(depth))
        rows.append(
            {
                "name": name,
                "kind": c.kind,
                "qubits": q,
                "depth": depth,
                "weights": c.n_weights(q, depth),
                "features": c.n_features(q) if c.n_features is not None else None,
                "source": c.source,
                "description": c.description,
            }
        )
    return rows
