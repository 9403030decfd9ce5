"""Runtime benchmarks: the same commands as `rasp bench` (gemm, attention, forward, train, all),
plus `gpu`, the prepared GPU run of benchmarks/gpu.py.

    python benchmarks/runtime.py all --json benchmarks/results/runtime_cpu.json
    python benchmarks/runtime.py gemm --sizes 8192 --dtype bfloat16      # on an H100/H200
    python benchmarks/runtime.py gpu [--dry-run]                         # every GPU figure
"""

import sys
from pathlib import Path

# This file is itself named runtime.py: put the repository root first so that `import runtime`
# finds the package rather than this script.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from runtime.cli import bench  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1:2] == ["gpu"]:
        sys.path.insert(1, str(Path(__file__).resolve().parent))
        from gpu import main

        sys.exit(main(sys.argv[2:]))
    bench()
