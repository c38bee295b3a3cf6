#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: train the worker's path (models.train.train) on cuda and
# on the CPU in the same run, print images/s of each, and check that a checkpoint made on
# the GPU samples the same digits on the CPU. Exit 0 when every check passes.
#   scripts/gpu_check.sh [--steps 300] [--architectures mlp cmlp]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" scripts/gpu_check.py "$@"
