#!/usr/bin/env bash
# One agent per GPU on this box, all on one sweep.
#   SWEEP=scratch-cnn-1a2b3c DATA=/data/inaturalist_12K ./agents/one_per_gpu.sh
# Optional: GPUS="0 1 2 3" (default: every GPU nvidia-smi lists), STORAGE=postgresql://... (local engine on a
# shared database; default: the workspace's SQLite file), WORKSPACE=/shared/inat_runs, COUNT=N (trials per agent),
# DRY_RUN=1 (print the commands only). SWEEP may be a W&B sweep (ENTITY/PROJECT/ID).
# Ctrl-C / SIGTERM is forwarded: each agent re-queues its running trial and exits cleanly.
set -euo pipefail
: "${SWEEP:?set SWEEP to the sweep id printed by inat-cnn sweep create}"
: "${DATA:?set DATA to the dataset root}"
AGENTS_PER_GPU="${AGENTS_PER_GPU:-1}"
if [ -z "${GPUS:-}" ]; then
  GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr '\n' ' ' || true)
fi
[ -n "${GPUS// /}" ] || { echo "no GPU found: set GPUS=\"0 1\" or run inat-cnn agent directly" >&2; exit 2; }
args=(--data "$DATA")
[ -n "${STORAGE:-}" ] && export INAT_CNN_STORAGE="$STORAGE"  # by environment: every user sees argv in ps
[ -n "${WORKSPACE:-}" ] && args+=(--workspace "$WORKSPACE")
[ -n "${COUNT:-}" ] && args+=(--count "$COUNT")
pids=()
for gpu in $GPUS; do
  for ((k = 0; k < AGENTS_PER_GPU; k++)); do
    cmd=(inat-cnn agent "$SWEEP" --gpu "$gpu" "${args[@]}")
    if [ -n "${DRY_RUN:-}" ]; then echo "${STORAGE:+INAT_CNN_STORAGE=*** }${cmd[*]}"; continue; fi
    "${cmd[@]}" > "agent-gpu${gpu}-${k}.log" 2>&1 &
    pids+=($!)
  done
done
[ -n "${DRY_RUN:-}" ] && exit 0
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM
wait
