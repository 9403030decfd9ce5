#!/usr/bin/env bash
# The prepared GPU run (benchmarks/gpu.py): every section, JSON in benchmarks/results/gpu/.
#   bash benchmarks/gpu.sh            # on an H100/H200, about 5 minutes
#   bash benchmarks/gpu.sh --dry-run  # tiny sizes on the CPU
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" benchmarks/gpu.py "$@"
