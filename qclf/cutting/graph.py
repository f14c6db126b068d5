"""Where a circuit can be cut: wire segments, fragments, and the search for the fewest cuts.

A cut ``(wire, after_op)`` splits ``wire`` after operation number ``after_op`` of the expanded
circuit (gates of at most two wires where a decomposition allows). Each wire becomes segments;
an operation glues the segments it touches into one fragment; a fragment's width is its number
of segments (a cut segment starts on a fresh qubit). :func:`find_cuts` tries every set of ``k``
cuts for ``k = 0, 1, ...`` (fewest cuts first), keeps the sets whose widest fragment fits, and
prefers fewer fragments, then a narrower widest fragment, then fewer fragment circuits.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

Cut = tuple[Hashable, int]  # (wire, index of the last operation before the cut)

#: above this many candidate cut sets for one k, the search turns greedy
EXHAUSTIVE_LIMIT = 20_000


class CutError(ValueError):
    """A circuit that cannot be split as asked (too wide for the allowed cuts, bad cut, ...)."""


@dataclass
class Fragment:
    """One fragment: its segments (local wire i = ``segments[i]``), operations and cut ends."""

    index: int
    segments: list[tuple[Hashable, int]]
    ops: list[int]
    in_cuts: dict[int, int] = field(default_factory=dict)  # cut id -> local wire (prepared)
    out_cuts: dict[int, int] = field(default_factory=dict)  # cut id -> local wire (measured)

    @property
    def width(self) -> int:
        return len(self.segments)

    @property
    def wires(self) -> list[Hashable]:
        return [w for w, _ in self.segments]

    @property
    def circuits_per_sample(self) -> int:
        """Preparations x measurement bases this fragment runs in (4 per input, 3 per output)."""
        return 4 ** len(self.in_cuts) * 3 ** len(self.out_cuts)


def _wire_ops(op_wires: Sequence[Sequence[Hashable]], wires: Sequence[Hashable]
              ) -> dict[Hashable, list[int]]:
    on: dict[Hashable, list[int]] = {w: [] for w in wires}
    for i, ws in enumerate(op_wires):
        for w in ws:
            on.setdefault(w, []).append(i)
    return on


def candidate_cuts(op_wires: Sequence[Sequence[Hashable]], wires: Sequence[Hashable]
                   ) -> list[Cut]:
    """Every place a cut can go: between two consecutive operations on a wire."""
    on = _wire_ops(op_wires, wires)
    return [(w, idx[j]) for w, idx in on.items() for j in range(len(idx) - 1)]


def segment_of(cuts_on_wire: Sequence[int], op_index: int) -> int:
    return sum(1 for c in cuts_on_wire if c < op_index)


def fragments(op_wires: Sequence[Sequence[Hashable]], wires: Sequence[Hashable],
              cuts: Sequence[Cut], keep: Sequence[Hashable] = ()) -> list[Fragment]:
    """The fragments of a circuit under ``cuts``. Wires with no operation are kept (as their own
    one-qubit fragment) only if listed in ``keep`` (they are measured)."""
    on = _wire_ops(op_wires, wires)
    by_wire: dict[Hashable, list[int]] = {}
    for w, after in cuts:
        if w not in on:
            raise CutError(f"cut ({w!r}, {after}): the circuit has no wire {w!r}")
        later = [i for i in on[w] if i > after]
        if after not in on[w] or not later:
            raise CutError(f"cut ({w!r}, {after}): operation {after} must act on wire {w!r} "
                           "and be followed by another operation on it")
        by_wire.setdefault(w, []).append(after)
    parent: dict[tuple[Hashable, int], tuple[Hashable, int]] = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for w, idx in on.items():
        if idx or w in keep:
            for s in range(len(by_wire.get(w, [])) + 1):
                parent[(w, s)] = (w, s)
    for i, ws in enumerate(op_wires):
        segs = [(w, segment_of(by_wire.get(w, []), i)) for w in ws]
        for s in segs[1:]:
            parent[find(s)] = find(segs[0])
    groups: dict[tuple[Hashable, int], list[tuple[Hashable, int]]] = {}
    order = {w: k for k, w in enumerate(wires)}
    for seg in sorted(parent, key=lambda s: (order.get(s[0], len(order)), s[1])):
        groups.setdefault(find(seg), []).append(seg)
    frags = [Fragment(k, segs, []) for k, segs in enumerate(groups.values())]
    where = {seg: f for f in frags for seg in f.segments}
    for i, ws in enumerate(op_wires):
        if ws:
            where[(ws[0], segment_of(by_wire.get(ws[0], []), i))].ops.append(i)
    cut_id = 0
    for w in wires:
        for s, _after in enumerate(sorted(by_wire.get(w, []))):
            up, down = where[(w, s)], where[(w, s + 1)]
            up.out_cuts[cut_id] = up.segments.index((w, s))
            down.in_cuts[cut_id] = down.segments.index((w, s + 1))
            cut_id += 1
    return frags


def normalise_cuts(cuts: Sequence[Cut], wires: Sequence[Hashable]) -> list[Cut]:
    """Cuts in the order :func:`fragments` numbers them (by wire, then position)."""
    order = {w: k for k, w in enumerate(wires)}
    return sorted(cuts, key=lambda c: (order.get(c[0], len(order)), c[1]))


def _score(frags: list[Fragment]) -> tuple[int, int, int]:
    return (len(frags), max(f.width for f in frags),
            sum(f.circuits_per_sample for f in frags))


def find_cuts(op_wires: Sequence[Sequence[Hashable]], wires: Sequence[Hashable],
              max_qubits: int, max_cuts: int = 3, keep: Sequence[Hashable] = ()) -> list[Cut]:
    """The fewest cuts after which every fragment has at most ``max_qubits`` qubits.

    Raises :class:`CutError` naming the smallest width reachable with ``max_cuts`` cuts, and how
    many cuts that takes, when no set fits.
    """
    if max_qubits < 1:
        raise CutError(f"max_qubits must be >= 1, got {max_qubits}")
    cands = candidate_cuts(op_wires, wires)
    best_width: tuple[int, int] | None = None  # (width, cuts)
    for k in range(max_cuts + 1):
        n_sets = _n_choose(len(cands), k)
        sets = (itertools.combinations(cands, k) if n_sets <= EXHAUSTIVE_LIMIT
                else [_greedy(op_wires, wires, cands, k, keep)])
        found: tuple[tuple[int, int, int], list[Cut]] | None = None
        for cs in sets:
            frags = fragments(op_wires, wires, cs, keep)
            width = max(f.width for f in frags)
            if best_width is None or width < best_width[0]:
                best_width = (width, k)
            if width <= max_qubits:
                score = _score(frags)
                if found is None or score < found[0]:
                    found = (score, list(cs))
        if found is not None:
            return normalise_cuts(found[1], wires)
    width, k = best_width if best_width else (len(wires), 0)
    raise CutError(
        f"the circuit ({len(wires)} qubits) cannot be split into fragments of at most "
        f"{max_qubits} qubits with {max_cuts} or fewer cuts: the narrowest split found is "
        f"{width} qubits wide ({k} cut(s)). Allow more qubits (max_qubits={width}) or more "
        f"cuts (max_cuts), or place the cuts yourself (cuts=[(wire, after_op), ...])")


def _n_choose(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


def _greedy(op_wires, wires, cands, k, keep) -> tuple[Cut, ...]:
    """k cuts chosen one at a time, each the one that narrows the widest fragment most."""
    chosen: list[Cut] = []
    for _ in range(k):
        def width_first(c: Cut) -> tuple[int, int, int]:
            n, width, circuits = _score(fragments(op_wires, wires, [*chosen, c], keep))
            return width, n, circuits

        best = min((c for c in cands if c not in chosen), key=width_first)
        chosen.append(best)
    return tuple(chosen)
