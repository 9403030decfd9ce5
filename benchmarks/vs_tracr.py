"""raspc's compiled programs against Tracr's, end to end and bare, exactness checked on every row.

    python benchmarks/vs_tracr.py [--tracr-python PATH] [--programs sort,hist] [--wide]

Each program is compiled by raspc (from examples/) and, when a Tracr installation is found,
by Tracr (from its own library, run by `tracr_worker.py` under Tracr's Python). Both run the
same random inputs of the full length, one thread each (torch; XLA without its thread pool),
timed in process CPU time, as the machine is shared. e2e is tokens to decoded outputs
(raspc: `run_batch`; Tracr: its encoder, jitted forward, decoder); bare is the forward alone on
encoded ids. Every raspc row's outputs are checked against the interpreter; Tracr's outputs
are checked too and reported. Tracr is looked for at --tracr-python, $RASPC_TRACR_PYTHON, or
../tracr-venv/bin/python beside the repository; without it raspc's figures print alone.
Progress goes to stderr; JSON to benchmarks/results/vs_tracr.json.
"""

from __future__ import annotations

import argparse
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
from timing import timed  # noqa: E402 (benchmarks/timing.py, beside this script)

import compiler  # noqa: E402
import runtime  # noqa: E402
from compiler import verify as check  # noqa: E402
from compiler.program import same_output  # noqa: E402
from rasp.env import Environment, read_source  # noqa: E402
from rasp.examples import read_header  # noqa: E402
from runtime.device import device_name  # noqa: E402

# name: (vocabulary, max length) as in the and Tracr's comparisons.
PROGRAMS = {"sort": ([1, 2, 3, 4, 5], 32), "hist": (["a", "b", "c"], 64),
            "reverse": (["a", "b", "c"], 32), "sort_freq": (["a", "b", "c"], 32)}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tracr_python(option: str | None) -> str | None:
    for path in (option, os.environ.get("RASPC_TRACR_PYTHON"),
                 str(ROOT.parent / "tracr-venv" / "bin" / "python")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def run_tracr(python: str, name: str, inputs: list, batches: list[int], min_cpu: float,
              back_to_back: int | None) -> dict[str, Any]:
    vocab, n = PROGRAMS[name]
    request = {"program": name, "vocab": vocab, "max_len": n, "inputs": inputs,
               "batches": batches, "min_cpu": min_cpu, "back_to_back": back_to_back}
    env = {**os.environ, "XLA_FLAGS": XLA_ONE_THREAD, "OMP_NUM_THREADS": "1",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([python, str(ROOT / "benchmarks" / "tracr_worker.py")],
                          input=json.dumps(request), capture_output=True, text=True, env=env,
                          check=False)
    sys.stderr.write(done.stderr[-2000:] if done.returncode else done.stderr)
    if done.returncode:
        raise SystemExit(f"vs_tracr: the Tracr worker failed for {name} (exit "
                         f"{done.returncode})")
    return json.loads(done.stdout)


def bench_raspc(name: str, inputs: list, expected: list, batches: list[int], min_cpu: float,
                back_to_back: int | None) -> dict[str, Any]:
    vocab, n = PROGRAMS[name]
    path = ROOT / "examples" / f"{name}.rasp"
    env = Environment()
    env.run(read_source(str(path)), str(path))
    prog = compiler.compile(env, read_header(str(path)).compile.expr, vocab=vocab,
                            max_seq_len=n)
    fast = prog.fast_forward()
    rows = []
    for b in batches:
        batch = inputs[:b]
        outputs = prog.run_batch(batch)
        exact = all(same_output(e, a) for e, a in zip(expected, outputs, strict=False))
        tokens, lengths = prog.encode_batch(batch)
        rows.append({"batch": b, "exact": exact,
                     "e2e": timed(lambda batch=batch: prog.run_batch(batch), min_cpu),
                     "bare": timed(lambda t=tokens, ln=lengths: runtime.run_padded(fast, t, ln),
                                   min_cpu)})
        progress(f"raspc {name} batch {b:,} done")
    result = {"d_model": prog.stats["d_model"], "layers": prog.stats["layers"],
              "heads": prog.stats["heads"], "rows": rows, "back_to_back_wall": None}
    if back_to_back:
        batch = inputs[:back_to_back]
        result["back_to_back_wall"] = timed(lambda: prog.run_batch(batch), min_cpu)["wall"]
    return result


def rate(batch: int, seconds: float | None) -> float | None:
    return batch / seconds if seconds else None


def table(results: dict[str, Any], wide: bool) -> str:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:,.0f}"

    head = ["program", "batch", "e2e/cpu-s", "bare", "e2e/bare", "Tracr e2e", "bare",
            "ratio", "exact"]
    if wide:
        head += ["e2e seq/s", "Tracr seq/s"]
    lines = []
    for name, res in results["programs"].items():
        tracr = res.get("tracr")
        trows = {r["batch"]: r for r in tracr["rows"]} if tracr else {}
        for row in res["raspc"]["rows"]:
            b = row["batch"]
            e2e, bare = rate(b, row["e2e"]["cpu"]), rate(b, row["bare"]["cpu"])
            t = trows.get(b)
            t_e2e = rate(b, t["e2e"]["cpu"]) if t else None
            t_bare = rate(b, t["bare"]["cpu"]) if t else None
            cells = [f"{name}@{PROGRAMS[name][1]}", f"{b:,}", num(e2e), num(bare),
                     f"{e2e / bare:.2f}", num(t_e2e), num(t_bare),
                     f"{e2e / t_e2e:.1f}x" if t_e2e else "-", "yes" if row["exact"] else "NO"]
            if wide:
                cells += [num(rate(b, row["e2e"]["wall"])),
                          num(rate(b, t["e2e"]["wall"])) if t else "-"]
            lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head, *lines])


def summary(results: dict[str, Any]) -> list[str]:
    """Per program: both models' sizes, Tracr's correctness, the back-to-back wall times."""
    out = []
    for name, res in results["programs"].items():
        r, tracr = res["raspc"], res.get("tracr")
        line = f"{name}@{PROGRAMS[name][1]}: raspc d_model {r['d_model']}, {r['layers']} layers"
        if tracr:
            line += f"; Tracr d_model {tracr['d_model']}, {tracr['layers']} layers"
        out.append(line)
        if tracr:
            out.append(f"  Tracr's outputs: {tracr['correct']:.1%} of sequences correct"
                       + (f", {tracr['correct_positions']:.1%} of positions"
                          if "correct_positions" in tracr else ""))
        if r["back_to_back_wall"] and tracr and tracr.get("back_to_back_wall"):
            t, w = tracr["back_to_back_wall"], r["back_to_back_wall"]
            out.append(f"  batch {results['back_to_back']}, wall per batch: raspc e2e "
                       f"{w * 1e3:.1f} ms, Tracr forward {t * 1e3:.1f} ms ({t / w:.1f}x)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracr-python", help="Python of an environment with Tracr installed.")
    ap.add_argument("--programs", default=",".join(PROGRAMS))
    ap.add_argument("--batches", default="1,64,1024,16384")
    ap.add_argument("--min-cpu", type=float, default=1.0,
                    help="CPU seconds each measurement runs for (after a warm-up call).")
    ap.add_argument("--back-to-back", type=int, default=256,
                    help="Batch of the wall-time comparison with Tracr's forward (0: none).")
    ap.add_argument("--no-tracr", action="store_true", help="raspc's figures only.")
    ap.add_argument("--reuse-tracr", metavar="JSON",
                    help="Take Tracr's figures from earlier runs' JSON files (comma-separated) "
                         "instead of rerunning it.")
    ap.add_argument("--wide", action="store_true", help="Also wall-clock seq/s columns.")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "vs_tracr.json"))
    args = ap.parse_args(argv)
    names = [p for p in args.programs.split(",") if p]
    unknown = [p for p in names if p not in PROGRAMS]
    if unknown:
        ap.error(f"unknown programs {unknown}; choose from {list(PROGRAMS)}")
    batches = sorted({int(b) for b in args.batches.split(",")})
    torch.set_num_threads(1)
    python = None if args.no_tracr else tracr_python(args.tracr_python)
    earlier: dict[str, Any] = {}
    for path in (args.reuse_tracr or "").split(","):
        if path:
            earlier.update({k: v for k, v in json.loads(Path(path).read_text())["programs"]
                            .items() if v.get("tracr")})
    b2b = args.back_to_back or None
    results: dict[str, Any] = {
        "machine": {"cpu": device_name(torch.device("cpu")),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "loadavg": os.getloadavg()[0], "threads": 1},
        "tracr_python": python, "batches": batches, "back_to_back": b2b, "programs": {}}
    for name in names:
        vocab, n = PROGRAMS[name]
        rng = random.Random(0)
        inputs = [[rng.choice(vocab) for _ in range(n)] for _ in range(max(batches + [b2b or 0]))]
        expected = check.expected_outputs(_node(name), inputs)
        res: dict[str, Any] = {"raspc": bench_raspc(name, inputs, expected, batches,
                                                    args.min_cpu, b2b)}
        if earlier.get(name, {}).get("tracr"):
            res["tracr"] = earlier[name]["tracr"]
        elif python:
            progress(f"tracr {name}: compiling and running (this takes a while)")
            tracr = run_tracr(python, name, inputs, batches, args.min_cpu, b2b)
            got = tracr.pop("outputs")
            pairs = list(zip(expected, got, strict=False))
            tracr["correct"] = sum(same_output(e, a) for e, a in pairs) / len(pairs)
            tracr["correct_positions"] = sum(
                same_output([u], [w]) for e, a in pairs for u, w in zip(e, a, strict=False)
            ) / sum(len(e) for e, _ in pairs)
            tracr["sample"] = [{"input": x, "expected": e, "tracr": a}
                               for x, (e, a) in zip(inputs[:2], pairs[:2], strict=True)]
            res["tracr"] = tracr
        results["programs"][name] = res
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))  # kept as each finishes
    m = results["machine"]
    print(f"{m['cpu']}, load average {m['loadavg']:.1f}")
    print("Sequences per CPU-second (ratio: raspc e2e / Tracr e2e)")
    print(table(results, args.wide))
    print("\n".join(summary(results)))
    if not python and not earlier:
        print("Tracr: absent (give --tracr-python or $RASPC_TRACR_PYTHON)")
    print(f"JSON: {args.json}")
    return 0 if all(r["exact"] for res in results["programs"].values()
                    for r in res["raspc"]["rows"]) else 1


def _node(name: str):
    path = ROOT / "examples" / f"{name}.rasp"
    env = Environment()
    env.run(read_source(str(path)), str(path))
    return env.expression(read_header(str(path)).compile.expr)


if __name__ == "__main__":
    sys.exit(main())
