"""Every tuning threshold of the engine, in one place, with the measurement that chose it.

Timings: ``experiments/bench_engine.py`` on the 2-core development machine, one thread,
float32, forward + backward (see ``experiments/RESULTS.md``, engine section). A threshold may be
patched in tests to force a path; nothing else reads module globals at run time.
"""

from __future__ import annotations

#: runs of weight-only gates around parameterised multi-qubit gates (CRZ, CRX, IsingXX, ...)
#: within a span of at most this many contiguous wires become one block matrix, built from the
#: small gate matrices and applied with one GEMM (8-qubit QCNN: ~90 gates -> ~15 state passes).
BLOCK_MAX_WIRES = 4

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

#: up to this many qubits a single-qubit layer is one Kronecker product over all wires and one
#: plain GEMM (B, 2**n) @ (2**n, 2**n): at 5 qubits, batch 64, two 8x8/4x4 block GEMMs cost
#: ~27 us each through broadcast batched matmul, the 32x32 GEMM ~5 us.
FULL_LAYER_MAX_WIRES = 6

#: a run of weight-only steps becomes one 2**n x 2**n unitary (built on the identity, applied
#: with one GEMM) when the batch is at least this many times 2**n. Process CPU ms per fwd+bwd
#: for ratio 4 / 2 / 1 (2026-11-24): 8-qubit QCNN at 512: 47 / 29 / 27; QAOA 6 qubits at 256:
#: 10.5 / 8.4 / 6.5; SEL 5 qubits at 64: 2.21 / 2.29 / 2.28; RandomLayers at 256: 4.6 / 4.6 / 5.2.
RUN_FUSE_MIN_RATIO = 1
