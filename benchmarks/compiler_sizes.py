"""Compiled model sizes and compile times against Tracr, for the Tracr library programs in
examples/ (the figures for Tracr: its HEAD, JAX on a 2-core CPU, mlp_exactness=100; issue 4).

    python benchmarks/compiler_sizes.py [--verify N] [--markdown]

Prints, per program and max_len: layers, heads, d_model, MLP hidden width, parameters and compile
time, each with its ratio to Tracr's figure. With --verify N, each model is also checked against
the interpreter on N sampled inputs (every input when there are few).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import compiler
from compiler import verify as check
from rasp.errors import RaspError
from rasp.examples import compile_spec, load_program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# program: (vocab (None: range(max_len)), layers, {max_len: (d_model, params, compile_s)})
TRACR = {
    "length": (list("abc"), 1, {10: (28, 2.3e3, None), 32: (72, 14e3, None), 64: (136, 48e3, 0.2)}),
    "reverse": (
        list("abc"),
        4,
        {5: (41, 19e3, 0.1), 10: (71, 90e3, 0.1), 32: (203, 1.9e6, 0.8), 64: (395, 14e6, 152)},
    ),
    "hist": (list("abc"), 1, {10: (28, 2.3e3, None), 32: (72, 14e3, None), 64: (136, 48e3, 0.2)}),
    "sort_unique": (None, 2, {10: (45, 9.6e3, None), 32: (133, 81e3, None), 64: (261, 309e3, 0.3)}),
    "sort": (
        [1, 2, 3, 4, 5],
        3,
        {10: (85, 81e3, None), 32: (239, 707e3, None), 64: (463, 2.7e6, 1.1)},
    ),
    "sort_freq": (
        list("abc"),
        5,
        {10: (164, 554e3, 0.2), 32: (1198, 38e6, 13), 64: (None, None, 400)},
    ),
    "frac_prevs": (
        list("abx"),
        2,
        {10: (18, 2.2e3, None), 32: (40, 13e3, None), 64: (72, 44e3, 0.04)},
    ),
    "pair_balance": (
        list("()x"),
        2,
        {10: (21, 4.9e3, None), 32: (43, 26e3, None), 64: (75, 87e3, 0.12)},
    ),
    "shuffle_dyck": (
        list("()"),
        6,
        {10: (53, 293e3, 0.14), 32: (119, 5.9e6, 12), 64: (None, None, 400)},
    ),
    "shuffle_dyck2": (list("(){}"), 8, {10: (70, 1.0e6, 0.19), 32: (136, 18e6, 28)}),
}


def ratio(ours: float, theirs: float | None) -> str:
    return "—" if not theirs else f"{ours / theirs:.2f}"


def human(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verify", type=int, default=0, help="inputs to verify each model on")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    os.chdir(ROOT)
    print(
        "| program | max_len | layers (Tracr) | heads | d_model (× Tracr) | MLP hidden "
        "| params (× Tracr) | compile s (Tracr) |" + (" verified |" if args.verify else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if args.verify else ""))
    worst = True
    for name, (vocab, layers, sizes) in TRACR.items():
        if args.names and name not in args.names:
            continue
        path = f"examples/{name}.rasp"
        for n, (d_t, p_t, s_t) in sizes.items():
            v = vocab if vocab is not None else list(range(n))
            program = load_program(path)
            spec = compile_spec(program.header, vocab=v, max_len=n)
            start = time.perf_counter()
            try:
                prog = compiler.compile(program.env, spec.expr, vocab=v, max_len=n)
            except RaspError as err:
                print(f"| {name} | {n} | refused: {err.message} |")
                worst = False
                continue
            secs = time.perf_counter() - start
            s = prog.stats
            row = (
                f"| {name} | {n} | {s['layers']} ({layers}) | {s['heads']} | {s['d_model']} "
                f"({ratio(s['d_model'], d_t)}) | {s['mlp_hidden']} | {human(s['params'])} "
                f"({ratio(s['params'], p_t)}) | {secs:.2f} ({'—' if s_t is None else s_t}) |"
            )
            if args.verify:
                inputs, exhaustive = check.inputs_for(v, n, samples=args.verify)
                rep = check.verify(prog, prog.node, inputs, exhaustive)
                worst &= rep.ok
                row += (
                    f" {'all' if exhaustive else 'sampled'} {rep.checked:,}: "
                    f"{'exact' if rep.ok else f'{rep.mismatches} WRONG'} |"
                )
            print(row, flush=True)
    return 0 if worst else 1


if __name__ == "__main__":
    sys.exit(main())
