"""Every tuning threshold of the engine, in one place, with the measurement that chose it.

Timings: the rows of ``experiments/bench_engine.py`` on the 2-core development machine, one
thread, float32, forward + backward, process CPU time (see ``experiments/RESULTS.md``, engine
section). Tests patch thresholds to force the other code paths; nothing else changes them.
"""

from __future__ import annotations

#: runs of weight-only gates around parameterised multi-qubit gates (CRZ, CRX, IsingXX, ...)
#: within a span of at most this many contiguous wires become one block matrix, built from the
#: small gate matrices and applied with one GEMM. 8-qubit QCNN (103 gates): 87 steps without
#: blocks, 19 with; process CPU ms fwd+bwd at batch 512 before whole-run fusion: 3 wires 51,
#: 4 wires 47, 2 wires 87 (2026-11-24).
BLOCK_MAX_WIRES = 4

#: operations wider than this are decomposed (when they can be) instead of using op.matrix().
MAX_MATRIX_WIRES = 8

#: compiled plans kept per layer (least recently used dropped first).
PLAN_CACHE_SIZE = 16

#: fraction of available memory a call may plan to allocate for state vectors, counting
#: STATE_COPIES copies of the batched state (the state, autograd's saved tensors, gradients):
#: peak memory above the state's own size in ``bench_engine.py``: 12 qubits at batch 256
#: (8 MiB state) 148-257 MiB, i.e. up to ~32 copies; 200,704 4-qubit circuits (26 MiB) ~8-10.
MEMORY_FRACTION = 0.5
STATE_COPIES = 32

#: single-qubit gate layers are applied as Kronecker products over blocks of at most this many
#: contiguous wires (one GEMM per block on the canonical state). Process CPU ms fwd+bwd of the
#: 12-qubit SEL(3) row at batch 256 for 2 / 3 / 4 / 6 wires: 355 / 182 / 123 / 113 (8 qubits
#: at 64: 5.2 / 4.4 / 3.8 / 3.7), 2026-11-24.
GROUP_MAX_WIRES = 6

#: up to this many qubits a single-qubit layer is one Kronecker product over all wires and one
#: plain GEMM (B, 2**n) @ (2**n, 2**n): at 5 qubits, batch 64, two 8x8/4x4 block GEMMs cost
#: ~27 us each through broadcast batched matmul, the 32x32 GEMM ~5 us.
FULL_LAYER_MAX_WIRES = 6

#: a run of weight-only steps becomes one 2**n x 2**n unitary (built on the identity, applied
#: with one GEMM) when the batch is at least this many times 2**n. Process CPU ms per fwd+bwd
#: for ratio 4 / 2 / 1 (2026-11-24): 8-qubit QCNN at 512: 47 / 29 / 27; QAOA 6 qubits at 256:
#: 10.5 / 8.4 / 6.5; SEL 5 qubits at 64: 2.21 / 2.29 / 2.28; RandomLayers at 256: 4.6 / 4.6 / 5.2.
RUN_FUSE_MIN_RATIO = 1

#: circuits on at most this many qubits run as the small-register program (:mod:`.dense`):
#: whole-register unitaries of 2**n x 2**n entries built from moments (cost ~ 8**n per moment)
#: instead of gate-by-gate kernels (cost ~ operations dispatched per gate).
DENSE_MAX_WIRES = 6

#: ... as long as its moment matrices gather at most this many entries (slots x entries: all
#: 4**n of each moment, or only the structurally nonzero ones of sparse moments, below; slots
#: that only take the entry 1 are dropped). Process CPU ms fwd+bwd, general schedule / program,
#: in one process, interleaved, median of 7 (2026-12-02, final code): 6 qubits at 256,
#: StronglyEntanglingLayers (dense moments) of 6 / 12 / 24 / 48 layers (172,032 / 344,064 /
#: 688,128 / 1,376,256 entries): 6.2 / 3.6, 10.9 / 6.2, 16.2 / 11.5, 36.8 / 34.6; 24 layers at
#: 32: 17.5 / 16.4. RandomLayers after an RX encoding (sparse moments), 6 qubits at 256, 3 /
#: 10 / 20 / 40 x 12 rotations (16,640 / 91,392 / 163,584 / 350,976 entries): 9.2 / 4.4,
#: 19.4 / 11.0, 34.3 / 19.3, 64.6 / 39.8; at 32, 40 x 12: 60.7 / 30.9; 5 qubits at 64, 40 x 12:
#: 44.2 / 18.5. Before sparse moments, RandomLayers 3 x 12 gathered 393,216 entries (245,760
#: without padding slots) and took 7.4 / 22.3 ms (2026-12-01).
DENSE_MAX_GATHER = 1 << 20

#: ... and for batches of at most this many times 2**n circuits when its only batched gates
#: are the product state's (above, the general schedule's one fused unitary costs as much);
#: programs with batched gates inside (IQP, QAOA, re-uploading) run at every batch size.
#: Process CPU ms fwd+bwd, general / program (2026-12-01, interleaved, median of 5-7):
#: 4-qubit quanvolution at 1,024 / 2,048 / 4,096 / 8,192 / 12,544 / 32,768 circuits: 4.0 / 2.5,
#: 4.0 / 2.9, 6.2 / 4.1, 7.9 / 7.7, 9.0 / 9.0, 18.1 / 19.8 (at 200,704: 119 / 130); SEL(3) 5
#: qubits at 4,096 and 16,384: 6.2 / 6.3, 20.5 / 20.9. With batched gates inside: QAOA 6 qubits
#: at 8,192 and 32,768: 138 / 54, 527 / 208; IQP + SEL 6 qubits at 8,192: 143 / 36; 8 qubits
#: on blocks at 2,048: IQP + SEL 217 / 62, QAOA 197 / 101; IQP + SEL at 8,192: 1006 / 348.
DENSE_MAX_BATCH_RATIO = 512

#: A unitary's moments gather only their structurally nonzero entries (scattered into zero
#: matrices) when at most this fraction of their entries is nonzero
#: (:func:`.dense._nonzero_index`). Process CPU ms fwd+bwd, plain gather / nonzero entries, one
#: process, interleaved, median of 7 (2026-12-02), 6 qubits after an RX encoding, layers of
#: RY on k wires and a CNOT chain: 25% nonzero (k = 4, 3 layers, 256) 1.86 / 1.63; 50% (k = 5)
#: 3 layers at 256 2.11 / 1.75, at 16 1.46 / 1.27, 6 layers at 256 3.32 / 2.21; 100% (k = 6,
#: forced) 1.99 / 1.96. RandomLayers 3 x 12 (8.5%): 8.2-9.8 -> 3.2-4.7 ms at 256 (three
#: alternating pairs of processes). Dense moments (SEL, IQP, QAOA: 100%) keep the plain gather.
DENSE_SPARSE_MAX_FILL = 0.75

#: the small-register program multiplies a segment's moment matrices into one unitary before
#: applying it when the batch is at least this many times 2**n (else it applies them one by
#: one). Process CPU ms fwd+bwd for 1 / 2 / 4 / 8, one process, interleaved, with the test
#: suite running beside it (2026-12-01): SEL 5 qubits at 64: 1.83 / 1.83 / 1.89 / 1.72;
#: QAOA 6 qubits at 256: 6.9 / 6.2 / 6.5 / 7.2; IQP + SEL at 256: 7.0 / 6.7 / 7.4 / 7.1.
PRODUCT_MIN_RATIO = 2

#: wider registers (up to this many qubits) run the same program with moments applied as
#: blocks of at most PROGRAM_BLOCK_WIRES contiguous wires (the state relabelled when a
#: moment's gates are not contiguous), constant permutations as gathers and phase gates as
#: diagonals (:mod:`.blocks`).
PROGRAM_MAX_WIRES = 12
PROGRAM_BLOCK_WIRES = 4

#: ... for batches of at most this many times 2**n when only the product state is batched
#: (above, the general schedule's one whole-register unitary per weight-only run, applied with
#: one GEMM, costs less than block steps; with batched gates inside, see
#: DENSE_MAX_BATCH_RATIO): process CPU ms fwd+bwd, general / blocks, one process,
#: interleaved, median of 5 (2026-12-02, blocks batch-minor): SEL(3) 8 qubits at 64 / 256 /
#: 512 / 1,024 / 4,096: 5.9 / 3.9, 16.7 / 9.0, 20.3 / 19.5, 25.9 / 35.3, 75 / 151; 12 qubits
#: at 256 / 1,024: 253 / 200, 1421 / 1151; 8-qubit QCNN at 64 / 256 / 512: 18.1 / 11.8,
#: 32.8 / 27.8, 44.1 / 59.1.
PROGRAM_BLOCK_MAX_BATCH_RATIO = 1

#: a program of the form product state + one weight-only unitary + Z-word expectations runs
#: batch-minor in chunks (:mod:`.product_unitary`) for batches of at least this many times
#: 2**n. Process CPU ms fwd+bwd, previous path / chunked, interleaved, median of 5
#: (2026-12-01): 4-qubit quanvolution at 512 / 1,024 / 3,132 / 12,544 / 200,704 circuits:
#: 1.26 / 1.25, 1.86 / 2.23, 2.74 / 2.08, 7.28 / 4.82, 129 / 65; SEL(3) 5 qubits at 64 / 256 /
#: 1,024 / 4,096: 1.31 / 1.51, 1.58 / 1.62, 2.52 / 2.46, 6.65 / 5.98; batch 1: 1.13 / 1.23.
PRODUCT_MIN_BATCH_RATIO = 128

#: ... PRODUCT_CHUNK circuits per chunk: below ~8k the per-chunk operations cost more than
#: the cache misses saved. Process CPU ms of the quanvolution at 200,704 and 12,544, chunks of
#: 1,024 / 2,048 / 4,096 / 8,192: 94.7 / 68.1 / 61.9 / 54.2 and 8.6 / 7.0 / 6.5 / 5.7; a second
#: run, 8,192 / 16,384 / 32,768 / unchunked: 52.7 / 56.2 / 58.9 / 137 and 4.8 / 5.5 / 6.0 / 5.4.
PRODUCT_CHUNK = 8192

#: ... and for batches of at most this many circuits the forward keeps each chunk's product
#: state and amplitudes for the backward, in buffers the program reuses from call to call
#: (~280 bytes a 4-qubit circuit; at most two sets per program, ~9 MiB at this limit); above,
#: the backward recomputes them chunk by chunk in the chunk buffers. Process CPU ms fwd+bwd of
#: the 4-qubit quanvolution with weight gradients only (as in training), recompute / kept in
#: fresh tensors / kept in reused buffers, one process, interleaved, median of 7 (2026-12-02):
#: 4,096: 2.30 / 2.01 / 2.10; 12,544: 5.09 / 6.78 / 4.51; 16,384: 5.34 / 4.45 / 4.47;
#: 32,768: 9.79 / 12.7 / 7.94 and 8.20 / 10.7 / 8.00; 65,536: 12.9 / 20.7 / 11.9; 131,072:
#: 26.4 / 46.3 / 19.9; the hqnn_quanv training step (batch 64): 6.81 / 7.15 / 6.13. Fresh
#: tensors pay their page faults; reused buffers gain 2-33%, but above this limit they would
#: hold tens of MiB per layer between calls.
PRODUCT_KEEP_MAX = 16384

#: registers of at least this many qubits fold each encoded wire's leading single-qubit gates
#: into the product state (:mod:`.wire_gates`). Process CPU ms fwd+bwd, block steps / folded,
#: SEL(3) with RX encoding, one process, interleaved, median of 5 (2026-12-02): 8 qubits at
#: 64 / 256: 4.00 / 4.26, 7.14 / 6.94; 9 at 64: 7.57 / 7.07; 10 at 64 / 256: 12.3 / 10.1, 38.5
#: / 31.7; 11 at 64: 17.7 / 14.8; 12 at 256: 181 / 129; 8-qubit QCNN at 64 / 256: 12.8 /
#: 13.3, 26.8 / 27.7.
WIRE_GATES_MIN_WIRES = 9

#: ``TorchLayer(compile=True)`` (:mod:`.compiled`) compiles a block program (7 to
#: PROGRAM_MAX_WIRES qubits) of at most this many steps; longer ones stay on the fused
#: program. Process CPU ms fwd+bwd, fused / compiled, one process, interleaved, median of 5
#: (2026-12-02): SEL(3) on 8 qubits (7 steps) at 64 / 256: 3.85 / 2.29, 10.6 / 9.8; SEL(8) on
#: 8 qubits (17 steps) at 64: 7.66 / 6.22; the 8-qubit QCNN (57 steps) at 256: 24.7 / 57.0.
COMPILED_MAX_BLOCK_STEPS = 24
