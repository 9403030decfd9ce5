"""How often Tracr's compiled models are right, by length: the same harness as vs_tracr.py
(Tracr's own library programs, its encoder and decoder), random full-length inputs, each
output checked against raspc's interpreter. It separates a harness error (wrong already at
short lengths) from Tracr's own (right when short, wrong when long).

    python benchmarks/tracr_lengths.py [--tracr-python PATH] [--programs hist,reverse]
        [--lengths 8,16,32,64] [--count 50]
"""

from __future__ import annotations

import argparse
import random
import sys

import vs_tracr as vt  # benchmarks/vs_tracr.py, beside this script (it sets up sys.path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracr-python", help="Python of an environment with Tracr installed.")
    ap.add_argument("--programs", default="hist,reverse,sort")
    ap.add_argument("--lengths", default="8,16,32,64")
    ap.add_argument("--count", type=int, default=50, help="Random inputs per length.")
    args = ap.parse_args(argv)
    python = vt.tracr_python(args.tracr_python)
    if python is None:
        print("Tracr: absent (give --tracr-python or $RASPC_TRACR_PYTHON)")
        return 1
    lengths = [int(n) for n in args.lengths.split(",")]
    print(f"Tracr's outputs right, of {args.count} random inputs of each full length")
    print("program    " + "".join(f"{f'@{n}':>12}" for n in lengths))
    for name in args.programs.split(","):
        vocab, _ = vt.PROGRAMS[name]
        node = vt._node(name)
        cells = []
        for n in lengths:
            rng = random.Random(n)
            inputs = [[rng.choice(vocab) for _ in range(n)] for _ in range(args.count)]
            got = vt.run_tracr(python, name, inputs, [args.count], 0.01, max_len=n)["outputs"]
            expected = vt.check.expected_outputs(node, inputs)
            right = sum(map(vt.same_output, expected, got))
            cells.append(f"{right}/{len(inputs)}")
        print(f"{name:<11}" + "".join(f"{c:>12}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
