"""Every tuning threshold of the engine, in one place, with the measurement that chose it.

Timings: ``experiments/bench_engine.py`` on the 2-core development machine, one thread,
float32, forward + backward (see ``experiments/RESULTS.md``, engine section). A threshold may be
patched in tests to force a path; nothing else reads module globals at run time.
"""

from __future__ import annotations

#: batch x 2**n below which gates are applied one matrix at a time without the realified GEMM
#: (per-op overhead dominates); above it weight-only runs are merged into blocks and fused when
#: the cost model says so. 2**14: the 4-qubit quanvolution crosses over between batch 512
#: and 2048 (old engine, measured 2026-11-24).
SMALL_STATE = 1 << 14

#: widest weight-only run fused into one unitary for small states (layer krons + constant
#: blocks); 7 qubits: a 128x128 complex product per layer is still cheaper than ~3n tiny ops.
SMALL_FUSE_MAX_WIRES = 7

#: widest run fused into one unitary for large states (1024x1024 build vs gate-by-gate).
FUSE_MAX_WIRES = 10

#: consecutive weight-only gates on at most this many wires become one block matrix.
BLOCK_MAX_WIRES = 3

#: operations wider than this are decomposed (when they can be) instead of using op.matrix().
MAX_MATRIX_WIRES = 8

#: compiled plans kept per layer (least recently used dropped first).
PLAN_CACHE_SIZE = 16

#: fraction of available memory a call may plan to allocate for state vectors (the state,
#: its autograd copies and fused unitaries: ~8 live copies of the batched state measured on
#: 12 qubits, batch 256, forward + backward).
MEMORY_FRACTION = 0.5
STATE_COPIES = 8

#: single-qubit gate layers are applied as Kronecker products over blocks of at most this many
#: contiguous wires (one GEMM per block on the canonical state); 4: a 16x16 block keeps the
#: GEMM cheap next to the state's memory traffic up to 12 qubits.
GROUP_MAX_WIRES = 4
