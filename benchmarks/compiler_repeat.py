"""Does compile time depend on how many compiles came before? 2,000 compiles of one program
in one process; the median CPU time of the first 50 and of the last 50, and their ratio
(issue target: the last no slower than 1.3x the first).

    python benchmarks/compiler_repeat.py [--compiles 2000] [--max-len 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compiler  # noqa: E402
from compiler.testing import env_with  # noqa: E402

SORT = (
    "smaller = select(tokens_int, tokens_int, <);"
    "target = selector_width(smaller);"
    "s = aggregate(select(target, indices, ==), tokens_int);"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compiles", type=int, default=2000)
    ap.add_argument("--max-len", type=int, default=6)
    args = ap.parse_args(argv)
    env = env_with(SORT)
    times = []
    for i in range(args.compiles):
        start = time.process_time()
        compiler.compile(env, "s", vocab=[1, 2, 3, 4], max_len=args.max_len)
        times.append(time.process_time() - start)
        if (i + 1) % 500 == 0:
            print(f"{i + 1:,} compiles", file=sys.stderr, flush=True)
    window = min(50, len(times))
    first = statistics.median(times[:window])
    last = statistics.median(times[-window:])
    print(f"sort@{args.max_len}, {len(times):,} compiles in one process (CPU time, medians)")
    print(f"first {window}: {first * 1e3:.1f} ms   last {window}: {last * 1e3:.1f} ms")
    print(f"last / first: {last / first:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
