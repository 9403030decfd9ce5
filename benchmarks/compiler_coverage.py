"""How much of the corpus (`tests/corpus/*.rasp`) compiles exactly, per maximum length.

    python benchmarks/compiler_coverage.py [--lengths 5,8,16,32,64] [--time-limit 60]
                                           [--samples 1000] [--jobs 1] [NAME ...]
    python benchmarks/compiler_coverage.py --from-json   # the tables of the last run

Every program × max_len is compiled and verified against the interpreter in a forked child
with a wall-clock limit (tests/corpus/runner.py), so a hang costs its limit and is counted,
never stops the run. Prints the coverage table (exact / refused / wrong / no verdict /
raw error per max_len), a per-program grid and the distinct refusal reasons; writes
benchmarks/results/compiler_coverage.json (unless --no-json). Targets of issue 15: ≥ 95%
exact at 16, ≥ 90% at 32 and 64, 0 wrong, 0 without a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "corpus"))

import runner  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compiler_coverage.json"
MARK = {"exact": ".", "refused": "R", "wrong": "W", "timeout": "T", "error": "E"}
TARGETS = {16: 0.95, 32: 0.90, 64: 0.90}
TYPE_ONLY = runner.TYPE_ONLY_NOTE  # runner's note on a value-type-only mismatch


def table(results: dict[str, dict[int, runner.Outcome]], lengths: list[int]) -> str:
    """The coverage table: one row per verdict, one column per max_len."""
    head = f"{'max_len':<22}" + "".join(f"{n:>8}" for n in lengths)
    rows = [head, "-" * len(head)]
    total = {n: sum(n in r for r in results.values()) for n in lengths}
    for verdict, label in [
        ("exact", "compiled exactly"),
        ("refused", "refused"),
        ("wrong", "wrong model"),
        ("timeout", "no verdict"),
        ("error", "raw exception"),
    ]:
        cells = []
        for n in lengths:
            k = sum(r[n].verdict == verdict for r in results.values() if n in r)
            cells.append(f"{k:>3} {100 * k / total[n]:3.0f}%" if total[n] else "       -")
        rows.append(f"{label:<22}" + "".join(f"{c:>8}" for c in cells))
        if verdict == "wrong":
            k = [
                sum(
                    r[n].verdict == "wrong" and TYPE_ONLY in r[n].message
                    for r in results.values()
                    if n in r
                )
                for n in lengths
            ]
            cells = "".join(f"{x:>3}     " for x in k).rstrip()
            rows.append(f"{'  of which type only':<22}{cells}")
    rows.append(f"{'configurations':<22}" + "".join(f"{total[n]:>8}" for n in lengths))
    return "\n".join(rows)


def grid(results: dict[str, dict[int, runner.Outcome]], lengths: list[int]) -> str:
    """One line per program: a mark per max_len, d_model at the longest exact one, time."""
    width = max(len(name) for name in results)
    head = f"{'program':<{width}} " + " ".join(f"{n:>3}" for n in lengths) + "  d_model  secs"
    lines = [head]
    for name, row in results.items():
        marks = " ".join(f"{MARK[row[n].verdict]:>3}" if n in row else "  -" for n in lengths)
        exact = [n for n in lengths if n in row and row[n].verdict == "exact"]
        d = str(row[exact[-1]].stats.get("d_model", "")) if exact else ""
        secs = max((o.seconds + o.verify_seconds for o in row.values()), default=0.0)
        lines.append(f"{name:<{width}} {marks}  {d:>7} {secs:5.1f}")
    lines.append("  . exact   R refused   W wrong   T no verdict   E raw exception")
    return "\n".join(lines)


def reasons(results: dict[str, dict[int, runner.Outcome]]) -> str:
    """Each distinct non-exact message (its first words), with the configurations it hit."""
    seen: dict[str, list[str]] = {}
    for name, row in results.items():
        for n, out in row.items():
            if out.verdict == "exact":
                continue
            text = runner.reason_of(out.message) if out.verdict == "refused" else out.message
            key = f"{out.verdict}: {' '.join(text.split()[:9])}"
            seen.setdefault(key, []).append(f"{name}@{n}")
    lines = []
    for key, where in sorted(seen.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"{len(where):>3}  {key[:73]}")
        lines.append(f"     {', '.join(where)[:75]}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="only these programs (file stems)")
    ap.add_argument("--lengths", default="5,8,16,32,64")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="seconds per configuration, compile and verification (default 60)",
    )
    ap.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="random inputs per check when not exhaustive (default 1000)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="configurations at once (default 1)")
    ap.add_argument("--no-json", action="store_true", help="do not write the results file")
    ap.add_argument(
        "--from-json",
        action="store_true",
        help="print the tables of the saved results file; compile nothing",
    )
    args = ap.parse_args()
    if args.from_json:
        saved = json.loads(RESULTS.read_text(encoding="utf-8"))
        results = {
            name: {int(n): runner.Outcome(**o) for n, o in row.items()}
            for name, row in saved["results"].items()
        }
        print(
            table(results, saved["lengths"]),
            grid(results, saved["lengths"]),
            reasons(results),
            sep="\n\n",
        )
        return 0
    lengths = [int(x) for x in args.lengths.split(",")]
    progs = [p for p in runner.programs() if not args.names or p.name in args.names]
    if not progs:
        print(f"no corpus program matches {args.names}", file=sys.stderr)
        return 2
    print("importing the compiler ...", file=sys.stderr, flush=True)
    runner.preload()
    configs = [(p, n) for p in progs for n in lengths]
    results: dict[str, dict[int, runner.Outcome]] = {p.name: {} for p in progs}
    start = time.perf_counter()

    def one(cfg):
        p, n = cfg
        return p, n, runner.run(p, n, args.time_limit, args.samples)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for done, (p, n, out) in enumerate(pool.map(one, configs), 1):
            results[p.name][n] = out
            print(
                f"[{done:>3}/{len(configs)}] {p.name[:30]:<30} {n:>3} {out.verdict:<8}"
                f"{out.seconds + out.verify_seconds:6.1f}s",
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.perf_counter() - start
    print(table(results, lengths))
    print()
    print(grid(results, lengths))
    print()
    print(reasons(results))
    counts = {
        n: {v: sum(r[n].verdict == v for r in results.values()) for v in runner.VERDICTS}
        for n in lengths
    }
    met = all(counts[n]["exact"] >= TARGETS[n] * len(progs) for n in TARGETS if n in counts)
    met = met and all(c["wrong"] == 0 and c["timeout"] == 0 for c in counts.values())
    print(
        f"\n{len(progs)} programs, {len(configs)} configurations in {elapsed:.0f} s; "
        f"issue 15 targets {'met' if met else 'NOT met'}"
    )
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "lengths": lengths,
                    "time_limit_s": args.time_limit,
                    "samples": args.samples,
                    "programs": len(progs),
                    "seconds": round(elapsed, 1),
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                    "counts": counts,
                    "targets_met": met,
                    "results": {
                        name: {str(n): out.to_json() for n, out in row.items()}
                        for name, row in results.items()
                    },
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
