#!/usr/bin/env bash
# Put trained S1 (hqnn_parallel), S2 (hqnn_quanv) and S5 (distributed_qcnn) models on a device.
#
#   bash experiments/submit_s1_s2_s5.sh                     # local rehearsal on fake_manila
#   BACKEND=ibm:ibm_brisbane bash experiments/submit_s1_s2_s5.sh   # IBM Quantum (needs credentials)
#
# Credentials for ibm:<name> are read from QISKIT_IBM_TOKEN (+ QISKIT_IBM_INSTANCE) or the saved
# Qiskit account; qclf never writes them anywhere. Each step is resumable: after a crash or a
# kill, `qclf jobs RUN_DIR --resume` collects finished jobs and submits only what never finished.
set -euo pipefail
BACKEND=${BACKEND:-fake:fake_manila}
SHOTS=${SHOTS:-1024}
LIMIT=${LIMIT:-100}
DATA=${DATA:-digits}
OUT=${OUT:-runs/hardware}
TRAIN="--dataset $DATA --epochs ${EPOCHS:-10} --lr 0.01 --batch-size 32 --no-progress"

for model in hqnn_parallel hqnn_quanv distributed_qcnn; do
  run="$OUT/$model-$DATA"
  [ -f "$run/checkpoint.pt" ] || qclf train --model "$model" $TRAIN --out "$run"
  # 1. what would run: circuits, PUBs, jobs, shots, ISA depth, 2q gates, estimated QPU seconds
  qclf submit "$run" --backend "$BACKEND" --shots "$SHOTS" --limit "$LIMIT" --dry-run
  # 2. the same images on Aer with the device's noise model first (cheap, local)
  qclf evaluate "$run" --backend aer --noise fake_manila --shots "$SHOTS" --limit "$LIMIT" \
    --no-progress
  # 3. the device: Batch mode, manifest in $run/jobs/, results saved as they arrive
  qclf submit "$run" --backend "$BACKEND" --shots "$SHOTS" --limit "$LIMIT" --no-progress
  qclf jobs "$run"
done
