"""Each encoded wire's leading single-qubit gates, folded into its product-state vector.

On registers of the block program (more than ``DENSE_MAX_WIRES`` qubits) a first layer of
weight rotations after an angle encoding (the first layer of ``StronglyEntanglingLayers``, say)
acts on a product state: ``U_w RY(x_w)|0>`` on every wire. Applied as block steps it costs
what any layer costs, passes over the whole ``(B, 2**n)`` state forward and backward; folded
into the wires' vectors it costs a 2 x 2 matrix per wire and a complex (instead of real)
product state. 12 qubits, SEL(3) at 256 circuits: one of three block layers gone, 181 -> 129
ms; below ``thresholds.WIRE_GATES_MIN_WIRES`` qubits the fixed cost outweighs the pass saved.

A wire's chain is every unbatched single-qubit gate on it (constants and closed-form weight
gates) before the first other gate on the wire. ``U_w`` is the product of the chain, built
under autograd from the entry table (a handful of small operations); the program's fused
backward takes ``U``'s gradient through that small graph.
"""

from __future__ import annotations

import numpy as np
import torch

from .entries import EntryTable
from .fused import take
from .gates import complex_of
from .plan import Gate


class WireGates:
    """The per-wire matrices ``U`` (wires, 2, 2) of the encoded wires' leading gates.

    ``chains``: per encoded wire (in the product state's order) its gates in application
    order (possibly none)."""

    def __init__(self, chains: list[list[Gate]], plan):
        from .dense import _const_items, _table_items  # noqa: PLC0415 - dense imports this

        self.chains = chains
        items: list[tuple] = []
        offsets: dict[int, int] = {}
        gates = [g for c in chains for g in c]
        size, missing = _table_items(gates, items, offsets, 0)
        assert not missing  # chains hold only constants and table gates
        self.table = EntryTable(items, plan.flat_u_size, torch.float64, plan.device)
        consts: list[np.ndarray] = []
        eye = _const_items(gates, consts, offsets, size)
        consts.append(np.eye(2).reshape(-1))
        self.const_entries = torch.as_tensor(np.concatenate(consts).astype(complex),
                                             device=plan.device)  # fmt: skip
        depth = max(len(c) for c in chains)
        index = np.full((depth, len(chains), 4), 0, dtype=np.int64)
        for w, c in enumerate(chains):
            for k in range(depth):
                start = offsets[id(c[k])] if k < len(c) else eye
                index[k, w] = start + np.arange(4)
        self.index = torch.as_tensor(index, device=plan.device)
        self.cdtype = complex_of(plan.rdtype)

    def matrices(self, flat_u: torch.Tensor) -> torch.Tensor:
        """``U`` (wires, 2, 2) for this call, recorded by autograd if ``flat_u`` requires it."""
        entries = torch.cat([self.table.build(flat_u).to(self.const_entries.dtype),
                             self.const_entries])  # fmt: skip
        gates = take(entries, self.index).reshape(*self.index.shape[:2], 2, 2)
        u = gates[0]
        for k in range(1, gates.shape[0]):
            u = gates[k] @ u
        return u.to(self.cdtype)

    def vectors(self, u: torch.Tensor, cs: torch.Tensor) -> torch.Tensor:
        """Each wire's vector ``U_w (cos, sin)`` (B, wires, 2) from the real ``cs``."""
        return torch.einsum("wij,bwj->bwi", u, cs.to(u.dtype))

    @staticmethod
    def grads(u: torch.Tensor, cs: torch.Tensor, gv: torch.Tensor):
        """``(grad U, grad cs)`` from the vectors' gradient ``gv`` (B, wires, 2)."""
        gu = torch.einsum("bwi,bwj->wij", gv, cs.to(gv.dtype))  # sum_b gv conj(cs), cs real
        gcs = torch.einsum("wij,bwi->bwj", u.conj(), gv).real  # Re(U^dagger gv)
        return gu, gcs


def leading_chains(rest: list[Gate], wires: list[int]) -> tuple[list[list[Gate]], list[Gate]]:
    """Per wire of ``wires``, its unbatched single-qubit gates (constants and entry-table
    gates) before any other gate on it; and the remaining gates in order."""
    from .dense import _table_item  # noqa: PLC0415

    chains: dict[int, list[Gate]] = {w: [] for w in wires}
    closed: set[int] = set()
    remaining = []
    for g in rest:
        p = g.pos[0]
        if (len(g.pos) == 1 and p in chains and p not in closed and not g.batched
                and (g.const is not None or _table_item(g) is not None)):  # fmt: skip
            chains[p].append(g)
            continue
        closed.update(g.pos)
        remaining.append(g)
    return [chains[w] for w in wires], remaining
