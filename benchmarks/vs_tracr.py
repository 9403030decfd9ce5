"""raspc's compiled programs against Tracr's, end to end and bare, exactness checked on every row.

    python benchmarks/vs_tracr.py [--tracr-python PATH] [--programs sort,hist] [--wide]
    python benchmarks/vs_tracr.py --wall [--back-to-back 256]   (the wall-time section alone)

Each program is compiled by raspc (from examples/) and, when a Tracr installation is found,
by Tracr (from its own library, run by `tracr_worker.py` under Tracr's Python). Both run the
same random inputs of the full length, one thread each (torch; XLA without its thread pool),
timed in process CPU time, as the machine is shared, each way of running a batch interleaved
with the others over five rounds and given by its median round (`timing.timed_together`).
e2e is tokens to decoded outputs as Python lists (raspc: `run_batch`; Tracr: its encoder,
jitted forward, decoder); raspc's "arrays" is the same to decoded arrays (`run_arrays`: the
lists are then one `tolist`, about 15-25 ns per value); "text" the same from one string per
input, RASP's own input form, where every token is a character (hist, reverse, sort_freq);
bare is the forward alone on encoded ids. Every raspc row's outputs are checked against the
interpreter; Tracr's outputs are checked too and reported. Tracr is looked for at
--tracr-python, $RASPC_TRACR_PYTHON, or ../tracr-venv/bin/python beside the repository;
without it raspc's figures print alone.
Progress goes to stderr; JSON to benchmarks/results/vs_tracr.json.

--wall runs only the back-to-back comparison in wall time (meant for a quiet machine; sort and
hist unless --programs): raspc's e2e `run_batch` (its default, one thread), then Tracr's jitted
forward on encoded ids (XLA's default threads), then raspc again; the slower raspc figure is
the one compared. JSON to benchmarks/results/vs_tracr_wall.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))  # timing.py, shared with tracr_worker.py

import torch  # noqa: E402
from timing import timed, timed_together  # noqa: E402 (benchmarks/timing.py, beside this script)

import compiler  # noqa: E402
import runtime  # noqa: E402
from compiler import verify as check  # noqa: E402
from compiler.program import same_output  # noqa: E402
from rasp.env import Environment  # noqa: E402
from rasp.examples import read_header  # noqa: E402
from runtime.device import device_name  # noqa: E402

# name: (vocabulary, max length) as in the and Tracr's comparisons.
PROGRAMS = {
    "sort": ([1, 2, 3, 4, 5], 32),
    "hist": (["a", "b", "c"], 64),
    "reverse": (["a", "b", "c"], 32),
    "sort_freq": (["a", "b", "c"], 32),
}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tracr_python(option: str | None) -> str | None:
    for path in (
        option,
        os.environ.get("RASPC_TRACR_PYTHON"),
        str(ROOT.parent / "tracr-venv" / "bin" / "python"),
    ):
        if path and os.access(path, os.X_OK):
            return path
    return None


def run_tracr(
    python: str,
    name: str,
    inputs: list,
    batches: list[int],
    min_cpu: float,
    back_to_back: int | None = None,
    one_thread: bool = True,
    max_len: int | None = None,
) -> dict[str, Any]:
    vocab, n = PROGRAMS[name]
    n = max_len or n
    request = {
        "program": name,
        "vocab": vocab,
        "max_len": n,
        "inputs": inputs,
        "batches": batches,
        "min_cpu": min_cpu,
        "back_to_back": back_to_back,
    }
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if one_thread:
        env.update({"XLA_FLAGS": XLA_ONE_THREAD, "OMP_NUM_THREADS": "1"})
    done = subprocess.run(
        [python, str(ROOT / "benchmarks" / "tracr_worker.py")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    sys.stderr.write(done.stderr[-2000:] if done.returncode else done.stderr)
    if done.returncode:
        raise SystemExit(f"vs_tracr: the Tracr worker failed for {name} (exit {done.returncode})")
    return json.loads(done.stdout)


def compile_raspc(name: str) -> compiler.CompiledProgram:
    vocab, n = PROGRAMS[name]
    path = ROOT / "examples" / f"{name}.rasp"
    env = Environment()
    env.run_file(str(path))
    return compiler.compile(env, read_header(str(path)).compile.expr, vocab=vocab, max_len=n)


def bench_raspc(
    name: str, inputs: list, expected: list, batches: list[int], min_cpu: float
) -> dict[str, Any]:
    prog = compile_raspc(name)
    fast = prog.fast_forward()
    rows = []
    for b in batches:
        batch = inputs[:b]
        outputs = prog.run_batch(batch)
        exact = all(same_output(e, a) for e, a in zip(expected, outputs, strict=False))
        values, counts = prog.run_arrays(batch)
        exact = exact and prog.codec.rows(values, counts) == outputs
        tokens, lengths = prog.encode_batch(batch)
        fns = {
            "e2e": functools.partial(prog.run_batch, batch),
            "arrays": functools.partial(prog.run_arrays, batch),
            "bare": functools.partial(runtime.run_padded, fast, tokens, lengths),
        }
        if all(isinstance(t, str) and len(t) == 1 for t in PROGRAMS[name][0]):
            texts = ["".join(x) for x in batch]  # RASP's own input form: one string each
            values, counts = prog.run_arrays(texts)
            exact = exact and prog.codec.rows(values, counts) == outputs
            fns["text"] = functools.partial(prog.run_arrays, texts)
        row = {"batch": b, "exact": exact, **timed_together(fns, min_cpu)}
        rows.append(row)
        progress(f"raspc {name} batch {b:,} done")
    return {
        "d_model": prog.stats["d_model"],
        "layers": prog.stats["layers"],
        "heads": prog.stats["heads"],
        "rows": rows,
    }


def wall(python: str | None, names: list[str], batch: int, min_cpu: float, path: str) -> int:
    """The back-to-back section (see the module docstring): raspc, Tracr, raspc per program;
    prints one line each and writes JSON as each program finishes."""
    results: dict[str, Any] = {"machine": _machine(), "batch": batch, "programs": {}}
    print(f"{results['machine']['cpu']}, load average {results['machine']['loadavg']:.1f}")
    print(
        f"Wall time per batch of {batch:,}: raspc e2e (1 thread), then Tracr's jitted\n"
        "forward (XLA's default threads), then raspc again"
    )
    exact = True
    for name in names:
        vocab, n = PROGRAMS[name]
        rng = random.Random(0)
        inputs = [[rng.choice(vocab) for _ in range(n)] for _ in range(batch)]
        prog = compile_raspc(name)
        ok = all(
            map(same_output, check.expected_outputs(_node(name), inputs), prog.run_batch(inputs))
        )
        exact = exact and ok
        run = functools.partial(prog.run_batch, inputs)
        res: dict[str, Any] = {"exact": ok, "raspc_wall": [timed(run, min_cpu)["wall"]]}
        if python:
            progress(f"tracr {name}: compiling and timing (this takes a while)")
            res["tracr_wall"] = run_tracr(
                python, name, inputs, [], min_cpu, batch, one_thread=False
            )["back_to_back_wall"]
        res["raspc_wall"].append(timed(run, min_cpu)["wall"])
        slow = max(res["raspc_wall"])
        line = (
            f"{name}@{n}: raspc {slow * 1e3:.1f} ms (runs "
            + ", ".join(f"{w * 1e3:.1f}" for w in res["raspc_wall"])
            + ")"
        )
        if python:
            res["ratio"] = res["tracr_wall"] / slow
            line += f", Tracr {res['tracr_wall'] * 1e3:.1f} ms: {res['ratio']:.1f}x"
        print(line + ("" if ok else "; raspc NOT exact"))
        results["programs"][name] = res
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=1))
    if not python:
        print("Tracr: absent (give --tracr-python or $RASPC_TRACR_PYTHON)")
    print(f"JSON: {path}")
    return 0 if exact else 1


def _machine() -> dict[str, Any]:
    return {
        "cpu": device_name(torch.device("cpu")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "loadavg": os.getloadavg()[0],
        "threads": 1,
    }


def rate(batch: int, seconds: float | None) -> float | None:
    return batch / seconds if seconds else None


def table(results: dict[str, Any], wide: bool) -> str:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:,.0f}"

    head = ["program", "batch", "lists", "arrays", "text", "bare", "a/b t/b", "Tracr", "ratio"]
    head.append("exact")
    if wide:
        head += ["Tracr bare", "e2e seq/s", "Tracr seq/s"]
    lines = []
    for name, res in results["programs"].items():
        tracr = res.get("tracr")
        trows = {r["batch"]: r for r in tracr["rows"]} if tracr else {}
        for row in res["raspc"]["rows"]:
            b = row["batch"]
            e2e, bare = rate(b, row["e2e"]["cpu"]), rate(b, row["bare"]["cpu"])
            arrays = rate(b, row["arrays"]["cpu"]) if "arrays" in row else None
            text = rate(b, row["text"]["cpu"]) if "text" in row else None
            t = trows.get(b)
            t_e2e = rate(b, t["e2e"]["cpu"]) if t else None
            t_bare = rate(b, t["bare"]["cpu"]) if t else None
            cells = [
                f"{name}@{PROGRAMS[name][1]}",
                f"{b:,}",
                num(e2e),
                num(arrays),
                num(text),
                num(bare),
                " ".join(f"{x / bare:.2f}" if x else "   -" for x in (arrays, text)),
                num(t_e2e),
                f"{e2e / t_e2e:.1f}x" if t_e2e else "-",
                "yes" if row["exact"] else "NO",
            ]
            if wide:
                cells += [
                    num(t_bare),
                    num(rate(b, row["e2e"]["wall"])),
                    num(rate(b, t["e2e"]["wall"])) if t else "-",
                ]
            lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=True)]
    fmt = " ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head, *lines])


def summary(results: dict[str, Any]) -> list[str]:
    """Per program: both models' sizes and Tracr's correctness."""
    out = []
    for name, res in results["programs"].items():
        r, tracr = res["raspc"], res.get("tracr")
        line = f"{name}@{PROGRAMS[name][1]}: raspc d_model {r['d_model']}, layers {r['layers']}"
        if tracr:
            line += f"; Tracr d_model {tracr['d_model']}, layers {tracr['layers']}"
        out.append(line)
        if tracr:
            out.append(
                f"  Tracr's outputs: {tracr['correct']:.1%} of sequences correct"
                + (
                    f", {tracr['correct_positions']:.1%} of positions"
                    if "correct_positions" in tracr
                    else ""
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracr-python", help="Python of an environment with Tracr installed.")
    ap.add_argument("--programs", default=",".join(PROGRAMS))
    ap.add_argument("--batches", default="1,64,1024,16384")
    ap.add_argument(
        "--min-cpu",
        type=float,
        default=1.0,
        help="CPU seconds each measurement runs for (after a warm-up call).",
    )
    ap.add_argument(
        "--wall",
        action="store_true",
        help="Only the back-to-back wall-time comparison (sort, hist by default).",
    )
    ap.add_argument("--back-to-back", type=int, default=256, help="Batch of the --wall comparison.")
    ap.add_argument("--no-tracr", action="store_true", help="raspc's figures only.")
    ap.add_argument(
        "--reuse-tracr",
        metavar="JSON",
        help="Take Tracr's figures from earlier runs' JSON files (comma-separated) "
        "instead of rerunning it.",
    )
    ap.add_argument("--wide", action="store_true", help="Also wall-clock seq/s columns.")
    ap.add_argument(
        "--json",
        help="Where the JSON goes (default: benchmarks/results/"
        "vs_tracr.json, or vs_tracr_wall.json with --wall).",
    )
    args = ap.parse_args(argv)
    if args.wall and args.programs == ",".join(PROGRAMS):
        args.programs = "sort,hist"
    names = [p for p in args.programs.split(",") if p]
    unknown = [p for p in names if p not in PROGRAMS]
    if unknown:
        ap.error(f"unknown programs {unknown}; choose from {list(PROGRAMS)}")
    batches = sorted({int(b) for b in args.batches.split(",")})
    torch.set_num_threads(1)
    python = None if args.no_tracr else tracr_python(args.tracr_python)
    results_dir = ROOT / "benchmarks" / "results"
    if args.wall:
        return wall(
            python,
            names,
            args.back_to_back,
            args.min_cpu,
            args.json or str(results_dir / "vs_tracr_wall.json"),
        )
    args.json = args.json or str(results_dir / "vs_tracr.json")
    earlier: dict[str, Any] = {}
    for path in (args.reuse_tracr or "").split(","):
        if path:
            earlier.update(
                {
                    k: v
                    for k, v in json.loads(Path(path).read_text())["programs"].items()
                    if v.get("tracr")
                }
            )
    results: dict[str, Any] = {
        "machine": _machine(),
        "tracr_python": python,
        "batches": batches,
        "programs": {},
    }
    for name in names:
        vocab, n = PROGRAMS[name]
        rng = random.Random(0)
        inputs = [[rng.choice(vocab) for _ in range(n)] for _ in range(max(batches))]
        expected = check.expected_outputs(_node(name), inputs)
        res: dict[str, Any] = {"raspc": bench_raspc(name, inputs, expected, batches, args.min_cpu)}
        if earlier.get(name, {}).get("tracr"):
            res["tracr"] = earlier[name]["tracr"]
        elif python:
            progress(f"tracr {name}: compiling and running (this takes a while)")
            tracr = run_tracr(python, name, inputs, batches, args.min_cpu)
            got = tracr.pop("outputs")
            pairs = list(zip(expected, got, strict=False))
            tracr["correct"] = sum(same_output(e, a) for e, a in pairs) / len(pairs)
            tracr["correct_positions"] = sum(
                same_output([u], [w]) for e, a in pairs for u, w in zip(e, a, strict=False)
            ) / sum(len(e) for e, _ in pairs)
            tracr["sample"] = [
                {"input": x, "expected": e, "tracr": a}
                for x, (e, a) in zip(inputs[:2], pairs[:2], strict=True)
            ]
            res["tracr"] = tracr
        results["programs"][name] = res
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))  # kept as each finishes
    m = results["machine"]
    print(f"{m['cpu']}, load average {m['loadavg']:.1f}")
    print(
        "Sequences per CPU-second: raspc end to end from lists of tokens to Python lists,\n"
        "to arrays, from strings (text) to arrays, and its bare forward; a/b t/b: arrays\n"
        "and text over bare; Tracr end to end, lists to lists; ratio: raspc lists/Tracr"
    )
    print(table(results, args.wide))
    print("\n".join(summary(results)))
    if not python and not earlier:
        print("Tracr: absent (give --tracr-python or $RASPC_TRACR_PYTHON)")
    print(f"JSON: {args.json}")
    return (
        0
        if all(r["exact"] for res in results["programs"].values() for r in res["raspc"]["rows"])
        else 1
    )


def _node(name: str):
    path = ROOT / "examples" / f"{name}.rasp"
    env = Environment()
    env.run_file(str(path))
    return env.expression(read_header(str(path)).compile.expr)


if __name__ == "__main__":
    sys.exit(main())
