#!/usr/bin/env bash
# The prepared GPU check (see benchmarks/gpu_check.py): on a machine with one GPU, run
#   bash benchmarks/gpu_check.sh
# and commit benchmarks/results/gpu_check/. `--device cpu --small` is the test suite's run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
exec "$PY" benchmarks/gpu_check.py "$@"
