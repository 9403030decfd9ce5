"""Compile and verify every example program at several maximum lengths (the slow, full check).

    python benchmarks/check_compiler_matrix.py [--lengths 5,10,32,64] [--samples 10000] [NAME...]

Prints one line per (program, max_len): compiled stats and the verification result, or the
CompileError. Exit status 1 if any compiled model disagrees with the interpreter.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import compiler
from compiler import verify as check
from rasp.errors import RaspError
from rasp.examples import compile_spec, load_program, read_header

# The vocabularies of the Tracr comparison (DESIGN table); others use their header's.
TRACR_VOCAB = {
    "length": ["a", "b", "c"],
    "reverse": ["a", "b", "c"],
    "hist": ["a", "b", "c"],
    "sort": [1, 2, 3, 4, 5],
    "sort_freq": ["a", "b", "c"],
    "frac_prevs": ["a", "b", "x"],
    "pair_balance": ["(", ")", "x"],
    "shuffle_dyck": ["(", ")"],
    "shuffle_dyck2": ["(", ")", "{", "}"],
}


def vocab_for(name: str, header_vocab: list, max_len: int) -> list:
    if name == "sort_unique":
        return list(range(max_len))
    return TRACR_VOCAB.get(name, header_vocab)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--lengths", default="5,10,32,64")
    ap.add_argument("--samples", type=int, default=10_000)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    files = sorted(glob.glob("examples/*.rasp"))
    failed = False
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0]
        if args.names and name not in args.names:
            continue
        header = read_header(path).compile
        if header is None:
            continue
        for n in [int(x) for x in args.lengths.split(",")]:
            program = load_program(path)
            spec = compile_spec(program.header, vocab=vocab_for(name, header.vocab, n), max_len=n)
            vocab = spec.vocab
            t0 = time.perf_counter()
            try:
                prog = compiler.compile(program.env, spec.expr, vocab=vocab, max_len=n)
            except RaspError as err:
                print(f"{name:14} n={n:<3} refused: {err.message}", flush=True)
                continue
            dt = time.perf_counter() - t0
            inputs, exhaustive = check.inputs_for(vocab, n, samples=args.samples)
            report = check.verify(prog, prog.node, inputs, exhaustive)
            s = prog.stats
            status = "ok" if report.ok else f"MISMATCH {report.mismatches}"
            failed |= not report.ok
            print(
                f"{name:14} n={n:<3} L={s['layers']} H={s['heads']} d={s['d_model']:<5} "
                f"mlp={s['mlp_hidden']:<6} params={s['params']:<9,} {dt:6.2f}s  "
                f"{status} ({report.checked:,} {'all' if exhaustive else 'sampled'}, "
                f"{report.skipped} skipped)",
                flush=True,
            )
            if not report.ok:
                print("   ", report.first.describe(), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
