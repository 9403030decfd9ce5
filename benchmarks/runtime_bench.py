"""Runtime benchmarks: the same commands as `rasp bench` (gemm, attention, forward, train, all),
plus `gpu`, the prepared GPU run of benchmarks/gpu.py.

    python benchmarks/runtime_bench.py all --json benchmarks/results/runtime_cpu.json
    python benchmarks/runtime_bench.py gemm --sizes 8192 --dtype bfloat16      # on an H100/H200
    python benchmarks/runtime_bench.py gpu [--dry-run]                         # every GPU figure
"""

import sys

from runtime.cli import bench

if __name__ == "__main__":
    if sys.argv[1:2] == ["gpu"]:
        from gpu import main  # benchmarks/gpu.py, beside this script

        sys.exit(main(sys.argv[2:]))
    bench()
