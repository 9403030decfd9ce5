"""Interpreter throughput: the library's sort and a histogram on random inputs.

Prints inputs/second evaluated as one vectorised batch and one input at a time, and the ratio.
Usage: python benchmarks/interpreter.py [--inputs 10000] [--length 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import rasp

PROGRAMS = {
    "sort": "sort(tokens, tokens)",
    "hist": "selector_width(select(tokens, tokens, ==))",
}


def measure(env: rasp.Environment, expr: str, inputs: list[str], single: int) -> dict:
    batch_s = float("inf")
    for _ in range(3):  # best of three: the first pass also pays for page faults
        start = time.perf_counter()
        batched = env.evaluate_batch(expr, inputs)
        batch_s = min(batch_s, time.perf_counter() - start)
    start = time.perf_counter()
    alone = [env.evaluate(expr, x) for x in inputs[:single]]
    single_s = time.perf_counter() - start
    assert alone == batched[:single], "batched and one-at-a-time results differ"
    batch_rate = len(inputs) / batch_s
    single_rate = single / single_s
    return {
        "expr": expr,
        "inputs": len(inputs),
        "batched_per_s": batch_rate,
        "single_per_s": single_rate,
        "ratio": batch_rate / single_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=16)
    parser.add_argument(
        "--single", type=int, default=500, help="inputs timed one at a time (a sample: it is slow)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    inputs = [
        "".join(rnd.choice("abcdefgh") for _ in range(args.length)) for _ in range(args.inputs)
    ]
    env = rasp.Environment()
    env.evaluate_batch(PROGRAMS["sort"], inputs[:10])  # warm up
    results = {name: measure(env, expr, inputs, args.single) for name, expr in PROGRAMS.items()}
    print(f"{args.inputs:,} random inputs of length {args.length}")
    print(f"{'program':8} {'batched in/s':>14} {'one-by-one in/s':>16} {'ratio':>8}")
    for name, r in results.items():
        print(
            f"{name:8} {r['batched_per_s']:>14,.0f} {r['single_per_s']:>16,.0f} "
            f"{r['ratio']:>7,.0f}x"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
