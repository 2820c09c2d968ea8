#!/usr/bin/env bash
# N agents sharing each GPU (TF memory growth / JAX no-preallocate are on, so they fit side by side).
# Pays off for small models (the scratch CNN at low resolution); one agent already saturates an H100 on
# the 224 px scratch CNN (measured on an H100: 3 agents 9,636 img/s together vs 9,866 alone).
#   SWEEP=... DATA=... AGENTS_PER_GPU=3 ./agents/n_per_gpu.sh
set -euo pipefail
export AGENTS_PER_GPU="${AGENTS_PER_GPU:-2}"
exec "$(dirname "$0")/one_per_gpu.sh"
