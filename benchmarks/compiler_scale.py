"""Compile time and d_model against program size and against max_len, with growth exponents.

    python benchmarks/compiler_scale.py [--quick] [--sizes 10,100,1000,5000]
        [--lengths 16:512:1] [--examples reverse,sort] [--time-limit 60] [--jobs 1]
        [--skip size,long,length] [--no-json]

1. Program size: generated programs of 10 → 5,000 distinct IR nodes, two shapes: `chain`
   (research-REPL style conditional reassignments `x = "b" if tokens == "a" and x == "c"
   else x;`, a shift every 20 steps) and `tree` (a balanced tree of ternaries over shifted
   tokens). Each is compiled at max_len 8 in a forked child with a time limit.
2. max_len: every example of `examples/` at every max_len in the range (16 → 512 step 1 by
   default); a "cliff" is a step where d_model grows 25% (and 4 dims) faster than max_len
   from one point to the next; "no model" is the first max_len without a model; at 256 and
   512 each example is also verified (sampled inputs).
3. The verdict time of a generated 1,000-line program (a dictionary of 300 entries and
   900 conditional reassignments over five words) at max_len 8.

Growth exponents are least-squares slopes in log-log, of CPU seconds (steadier than wall
time on a shared machine) and of d_model. Progress goes to stderr; the tables
to stdout; JSON to benchmarks/results/compiler_scale.json. The full max_len sweep is
thousands of compiles (hours on 2 cores): `--quick` runs 16 → 512 in steps of 16, sizes up
to 1,000 nodes and four examples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "corpus"))

import runner  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compiler_scale.json"
VOCAB = ("a", "b", "c", "d")
WORDS = ("john", "mary", "sees", "not", "and")
QUICK_EXAMPLES = ("reverse", "sort", "hist", "sort_freq")


def chain_source(steps: int) -> str:
    """`steps` conditional reassignments of x; every 20th step is a shift (attention)."""
    lines = ["x = tokens;"]
    for i in range(steps):
        if i % 20 == 19:
            lines.append('x = aggregate(select(indices + 1, indices, ==), x, "a");')
        else:
            t, v, w = VOCAB[i % 4], VOCAB[(i + 1) % 4], VOCAB[(i * 3 + 2) % 4]
            lines.append(f'x = "{w}" if tokens == "{t}" and x == "{v}" else x;')
    lines.append("out_sop = x;")
    return "\n".join(lines) + "\n"


def tree_source(depth: int) -> str:
    """A balanced binary tree of depth `depth`: leaves are shifted tokens, nodes ternaries."""
    lines = []
    level = []
    for j in range(2**depth):
        lines.append(f'l0_{j} = aggregate(select(indices + {j % 5}, indices, ==), tokens, "a");')
        level.append(f"l0_{j}")
    for d in range(1, depth + 1):
        nxt = []
        for j in range(0, len(level), 2):
            a, b = level[j], level[j + 1]
            name = f"l{d}_{j // 2}"
            lines.append(f'{name} = {a} if {b} == "{VOCAB[(d + j) % 4]}" else {b};')
            nxt.append(name)
        level = nxt
    lines.append(f"out_sop = {level[0]};")
    return "\n".join(lines) + "\n"


def long_source(lines_wanted: int = 1000) -> str:
    """A research-style program: a 300-entry dictionary, then conditional reassignments."""
    w = WORDS
    head = [
        "# a generated 1,000-line program",
        "word = tokens;",
        'prev = aggregate(select(indices + 1, indices, ==), word, "#");',
        'nxt = aggregate(select(indices - 1, indices, ==), word, "#");',
        'tag = "none";',
        'mark = "none";',
    ]
    keys = [f"{a} {b} {c}" for a in ("#",) + w for b in w for c in ("#",) + w]
    table = [f'"{k}": "r{i % 7}"' for i, k in enumerate(keys)]
    body = ["table = {"] + [f"\t{e}," for e in table[:-1]] + [f"\t{table[-1]}", "};"]
    body.append('role = table[prev + " " + word + " " + nxt];')
    i = 0
    out = head + body
    while len(out) < lines_wanted - 1:
        a, b, c = w[i % 5], w[(i // 5) % 5], ("#",) + w
        var = ("role", "tag", "mark")[i % 3]
        out.append(
            f'{var} = "v{i % 11}" if word == "{a}" and prev == "{b}" and '
            f'nxt == "{c[i % 6]}" else {var};'
        )
        i += 1
    out.append("result = role + tag + mark;")
    return "\n".join(out) + "\n"


def _program(tmp: Path, name: str, source: str, expr: str, vocab) -> runner.Program:
    path = tmp / f"{name}.rasp"
    path.write_text(source, encoding="utf-8")
    return runner.Program(name, str(path), expr, tuple(vocab), source.count("\n"))


def _nodes(program: runner.Program) -> int:
    import rasp
    from rasp import ir

    env = rasp.Environment()
    env.run(Path(program.path).read_text(encoding="utf-8"), program.path)
    return sum(1 for _ in ir.walk([env.expression(program.expr)]))


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x (None with fewer than 3 points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def _fmt(v: float | None) -> str:
    return "   -" if v is None else f"{v:5.2f}"


def by_size(tmp: Path, targets: list[int], limit: float) -> list[dict]:
    """Compile generated chains and trees whose node counts approach `targets`."""
    rows = []
    for shape in ("chain", "tree"):
        for target in targets:
            if shape == "chain":
                k = max(1, round(target / 4.9))
                src = chain_source(k)
            else:
                k = max(1, round(math.log2(max(2, target / 6.5))))
                src = tree_source(k)
            prog = _program(tmp, f"{shape}_{target}", src, "out_sop", VOCAB)
            nodes = _nodes(prog)
            out = runner.run(prog, 8, limit, samples=0)
            rows.append(
                {
                    "shape": shape,
                    "target": target,
                    "nodes": nodes,
                    "verdict": out.verdict,
                    "seconds": round(out.seconds, 3),
                    "cpu_seconds": round(out.cpu_seconds, 3),
                    "d_model": out.stats.get("d_model"),
                    "layers": out.stats.get("layers"),
                    "message": out.message[:200],
                }
            )
            print(
                f"  size {shape:5} {nodes:>5} nodes: {out.verdict:8} {out.seconds:6.2f} s "
                f"d_model {out.stats.get('d_model', '-')}",
                file=sys.stderr,
                flush=True,
            )
    return rows


def by_length(
    names: list[str],
    lengths: list[int],
    limit: float,
    samples: int,
    jobs: int = 1,
    check_limit: float | None = None,
) -> dict:
    """Every example at every max_len (`jobs` compiles at once); verified at 256 and 512
    (each check within `check_limit` CPU seconds, the compile within `limit`)."""
    from rasp.examples import read_header

    progs = {}
    for name in names:
        path = ROOT / "examples" / f"{name}.rasp"
        spec = read_header(str(path)).compile
        progs[name] = runner.Program(
            name, str(path.relative_to(ROOT)), spec.expr, tuple(spec.vocab), 0
        )

    def one(cfg):
        name, n = cfg
        check = samples if n in (256, 512) else 0
        return name, n, runner.run(progs[name], n, limit, samples=check, check_limit=check_limit)

    points: dict[str, dict[int, dict]] = {name: {} for name in names}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for name, n, res in pool.map(one, [(name, n) for name in names for n in lengths]):
            points[name][n] = {
                "max_len": n,
                "verdict": res.verdict,
                "seconds": round(res.seconds, 3),
                "cpu_seconds": round(res.cpu_seconds, 3),
                "d_model": res.stats.get("d_model"),
                "params": res.stats.get("params"),
                "message": ""
                if res.verdict in ("compiled", "exact")
                else runner.reason_of(res.message)[:200],
            }
            print(
                f"  {name:14} max_len {n:>3}: {res.verdict:8} {res.seconds:6.2f} s "
                f"d_model {res.stats.get('d_model', '-')}",
                file=sys.stderr,
                flush=True,
            )
    return {name: summarise([pts[n] for n in lengths]) for name, pts in points.items()}


def summarise(points: list[dict]) -> dict:
    ok = [p for p in points if p["d_model"]]
    # growth faster than linear in max_len by a quarter, at least 4 dims, is a cliff
    cliffs = [
        {"from": a["max_len"], "to": b["max_len"], "d_model": [a["d_model"], b["d_model"]]}
        for a, b in zip(ok, ok[1:], strict=False)
        if b["d_model"] > 1.25 * a["d_model"] * b["max_len"] / a["max_len"]
        and b["d_model"] - a["d_model"] > 4
    ]
    exact_at = {
        str(n): next((p["verdict"] for p in points if p["max_len"] == n), None) for n in (256, 512)
    }
    return {
        "points": points,
        "cliffs": cliffs,
        "verified": exact_at,
        "exp_time": slope([p["max_len"] for p in ok], [p["cpu_seconds"] for p in ok]),
        "exp_d_model": slope([p["max_len"] for p in ok], [p["d_model"] for p in ok]),
        "first_refused": next((p["max_len"] for p in points if not p["d_model"]), None),
    }


def _ranges(text: str) -> list[int]:
    """LO:HI[:STEP], HI always included (and 256 and 512 where they fall inside)."""
    lo, hi, step = (int(x) for x in (text.split(":") + ["1"])[:3])
    return sorted(set(range(lo, hi + 1, step)) | {hi} | {n for n in (256, 512) if lo <= n <= hi})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a subset: see the module doc")
    ap.add_argument("--sizes", help="IR node targets, e.g. 10,30,100,300,1000,3000,5000")
    ap.add_argument("--lengths", help="max_len range LO:HI[:STEP] (default 16:512:1)")
    ap.add_argument("--examples", help="comma-separated example names (default: all)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per compile")
    ap.add_argument("--samples", type=int, default=200, help="inputs verified at 256/512")
    ap.add_argument(
        "--check-limit",
        type=float,
        default=600.0,
        help="seconds per check at 256/512 (dyck2@512: 80 s for 200 inputs)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="max_len compiles at once (default 1)")
    ap.add_argument("--skip", default="", help="parts to skip: size,length,long")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args()
    sizes = [
        int(x)
        for x in (
            args.sizes or ("10,30,100,300,1000" if args.quick else "10,30,100,300,1000,3000,5000")
        ).split(",")
    ]
    lengths = _ranges(args.lengths or ("16:512:16" if args.quick else "16:512:1"))
    all_examples = sorted(p.stem for p in (ROOT / "examples").glob("*.rasp"))
    names = (
        args.examples.split(",")
        if args.examples
        else list(QUICK_EXAMPLES)
        if args.quick
        else all_examples
    )
    skip = set(args.skip.split(",")) - {""}
    print("importing the compiler ...", file=sys.stderr, flush=True)
    runner.preload()
    result: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "time_limit_s": args.time_limit,
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if "size" not in skip:
            rows = by_size(Path(tmp), sizes, args.time_limit)
            result["size"] = rows
            print(f"{'shape':6} {'nodes':>6} {'verdict':9} {'CPU s':>8} {'d_model':>8} layers")
            for r in rows:
                print(
                    f"{r['shape']:6} {r['nodes']:>6} {r['verdict']:9} {r['cpu_seconds']:8.2f} "
                    f"{r['d_model'] or '-':>8} {'-' if r['layers'] is None else r['layers']:>6}"
                )
            for shape in ("chain", "tree"):
                ok = [r for r in rows if r["shape"] == shape and r["d_model"]]
                e_t = slope([r["nodes"] for r in ok], [r["cpu_seconds"] for r in ok])
                e_d = slope([r["nodes"] for r in ok], [r["d_model"] for r in ok])
                result[f"exp_{shape}"] = {"time": e_t, "d_model": e_d}
                print(f"{shape}: time ~ nodes^{_fmt(e_t)}, d_model ~ nodes^{_fmt(e_d)}")
        if "long" not in skip:
            prog = _program(Path(tmp), "long1000", long_source(), "result", WORDS)
            out = runner.run(prog, 8, max(args.time_limit, 60.0), samples=0)
            result["long_program"] = {
                "lines": prog.lines,
                "nodes": _nodes(prog),
                "verdict": out.verdict,
                "seconds": round(out.seconds, 2),
                "cpu_seconds": round(out.cpu_seconds, 2),
                "message": out.message[:300],
            }
            print(
                f"\n1,000-line program ({prog.lines} lines, "
                f"{result['long_program']['nodes']} nodes): {out.verdict} in "
                f"{out.seconds:.1f} s ({out.cpu_seconds:.1f} s CPU)"
            )
            if out.verdict != "compiled":
                print(f"  {runner.reason_of(out.message)[:76]}")
        if "length" not in skip:
            curves = by_length(
                names, lengths, args.time_limit, args.samples, args.jobs, args.check_limit
            )
            result["length"] = {
                "lengths": [lengths[0], lengths[-1], len(lengths)],
                "examples": curves,
            }
            print(f"\nmax_len {lengths[0]} → {lengths[-1]} ({len(lengths)} steps)")
            print(
                f"{'example':14} {'d@lo':>5} {'d@last':>6} {'exp d':>6} {'exp t':>6} "
                f"{'cliffs':>6} {'no model':>8} {'256':>8} {'512':>8}"
            )
            for name, c in curves.items():
                ds = [p["d_model"] for p in c["points"] if p["d_model"]]
                print(
                    f"{name:14} {ds[0] if ds else '-':>5} {ds[-1] if ds else '-':>6} "
                    f"{_fmt(c['exp_d_model']):>6} {_fmt(c['exp_time']):>6} "
                    f"{len(c['cliffs']):>6} {c['first_refused'] or '-':>8} "
                    f"{c['verified']['256'] or '-':>8} "
                    f"{c['verified']['512'] or '-':>8}"
                )
                for cl in c["cliffs"]:
                    print(
                        f"  cliff {cl['from']} → {cl['to']}: d_model {cl['d_model'][0]} → "
                        f"{cl['d_model'][1]}"
                    )
    result["seconds"] = round(time.perf_counter() - start, 1)
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
