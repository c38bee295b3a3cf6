#!/usr/bin/env bash
# Every GPU measurement the project still needs (docs/benchmarks.md, "GPU"), in one go, on
# a machine with an NVIDIA GPU and a Python that has PyTorch with CUDA and the project's
# dependencies (`pip install -e .`). About 6 minutes; prints each result as it comes.
#   scripts/gpu_bench.sh [--quick]
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=4
STEPS=300; [ "${1:-}" = "--quick" ] && STEPS=100
step() { echo; echo "== $*"; }

step "the machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

step "1. GPU checkpoints sample the same digits on the CPU (the API samples there)"
"$PYTHON" scripts/gpu_check.py --steps "$STEPS" --architectures mlp cmlp dcgan

step "2. one job, eager, batch 32 and 256: images/s and peak CUDA memory"
for batch in 32 256; do
  "$PYTHON" benchmarks/train_speed.py --device cuda --threads 4 --steps "$STEPS" \
    --batch-size "$batch" --architectures mlp,dcgan
done

step "3. several jobs on one GPU (DIGITGAN_GPU_JOBS), each a process: images/s in all"
for batch in 32 256; do
  "$PYTHON" benchmarks/train_speed.py --device cuda --threads 1 --steps "$STEPS" \
    --batch-size "$batch" --architectures dcgan --jobs 1,2,4,8
done

step "4. the whole step as one CUDA graph (not built yet: this says so and goes on)"
"$PYTHON" benchmarks/train_speed.py --device cuda --graph --architectures dcgan || true

step "5. a default job on the GPU, running to succeeded (needs a redis-server on PATH)"
if command -v redis-server >/dev/null; then
  "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_e2e.py -s || true
else
  echo "no redis-server here: skipped"
fi

step "6. API processes: fresh and cached digits at 1, 2, 4 and 8 (needs redis-server)"
if command -v redis-server >/dev/null; then
  load=python; command -v wrk >/dev/null && load=wrk,python
  "$PYTHON" benchmarks/serve_speed.py --workers 1,2,4,8 --levels 4,32 --seconds 3 \
    --rounds 2 --load "$load"
else
  echo "no redis-server here: skipped"
fi
