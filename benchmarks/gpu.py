"""The GPU run, prepared once: every figure the README wants from an H100/H200, in one go.

    python benchmarks/gpu.py                 # on a CUDA machine, about 5 minutes on an H200
    python benchmarks/gpu.py --dry-run       # tiny sizes on the CPU (the test suite runs it)

Sections, each printed and written to OUT/<section>.json as soon as it finishes (and all of
them so far to OUT/gpu.json), so a late failure keeps the earlier figures:

- gemm: bf16 GEMMs 256..8192 cubed against the card's datasheet peak (H100/H200 recognised by
  name; the peak used is in the JSON), with arithmetic intensity and the roofline verdict;
- attention: SDPA against plain-matmul attention, T = 64..4096 (bf16, causal, 12 x 64 heads);
- train: a GPT-2-small training step (bf16 autocast, fused AdamW, torch.compile): tokens/s
  and MFU, counting the tied LM head as nanoGPT does;
- compiled: raspc's compiled sort@32, sort@64, reverse@32 and hist@64 (float32, TF32 off) at
  batch 16,384 and at the largest batch per forward call that fits (doubling until out of
  memory or the cap), in sequences/s, bare forward and end to end, every output of the
  16,384 checked against the interpreter.

Timing uses CUDA events after warm-up calls, on random inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import compiler  # noqa: E402
from compiler import verify as check  # noqa: E402
from compiler.program import same_output  # noqa: E402
from rasp.env import Environment  # noqa: E402
from rasp.examples import read_header  # noqa: E402
from runtime import bench as B  # noqa: E402
from runtime.bench_tables import format_attention, format_gemm, format_train  # noqa: E402
from runtime.device import device_name, exact_fp32, pick_device  # noqa: E402

SECTIONS = ("gemm", "attention", "train", "compiled")
# (example, vocabulary, max length) of the compiled section, as in vs_tracr.py.
PROGRAMS = [
    ("sort", [1, 2, 3, 4, 5], 32),
    ("sort", [1, 2, 3, 4, 5], 64),
    ("reverse", ["a", "b", "c"], 32),
    ("hist", ["a", "b", "c"], 64),
]


def sizes(dry: bool) -> dict[str, Any]:
    """Everything that differs between the real run and the dry run."""
    if dry:
        return {
            "dtype": "float32",
            "gemm": [64, 128],
            "seq_lens": [16, 32],
            "attn_batch": 1,
            "train": ("tiny", 1, 16, 1, "none"),
            "programs": [(p, v, n // 8) for p, v, n in PROGRAMS],
            "batch": 64,
            "max_batch": 256,
            "min_time": 0.01,
        }
    return {
        "dtype": "bfloat16",
        "gemm": [256, 512, 1024, 2048, 4096, 8192],
        "seq_lens": [64, 128, 256, 512, 1024, 2048, 4096],
        "attn_batch": 8,
        "train": ("gpt2-small", 16, 1024, 10, "default"),
        "programs": PROGRAMS,
        "batch": 16384,
        "max_batch": 1 << 21,
        "min_time": 0.2,
    }


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def compiled_section(device: torch.device, cfg: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name, vocab, n in cfg["programs"]:
        path = ROOT / "examples" / f"{name}.rasp"
        env = Environment()
        env.run_file(str(path))
        prog = compiler.compile(env, read_header(str(path)).compile.expr, vocab=vocab, max_len=n)
        prog.model.to(device)
        rng = random.Random(0)
        batch = cfg["batch"]
        inputs = [[rng.choice(vocab) for _ in range(n)] for _ in range(batch)]
        expected = check.expected_outputs(prog.node, inputs)
        t0 = time.perf_counter()
        outputs = prog.run_batch(inputs)
        e2e = time.perf_counter() - t0  # after a first call below, timed again
        t0 = time.perf_counter()
        outputs = prog.run_batch(inputs)
        e2e = min(e2e, time.perf_counter() - t0)
        exact = sum(same_output(e, a) for e, a in zip(expected, outputs, strict=True))
        fast = prog.fast_forward()
        tokens, lengths = prog.encode_batch(inputs)
        ids = torch.from_numpy(tokens).to(device)
        lens = torch.from_numpy(lengths).to(device)
        row = {
            "program": f"{name}@{n}",
            "d_model": prog.stats["d_model"],
            "layers": prog.stats["layers"],
            "batch": batch,
            "exact": exact,
            "checked": len(inputs),
            "e2e_seq_per_s": batch / e2e,
            "bare_seq_per_s": batch
            / B.measure(lambda i=ids, ln=lens, f=fast: f(i, ln), device, cfg["min_time"]),
        }
        best = (batch, row["bare_seq_per_s"])
        rows_per_call = batch
        while rows_per_call * 2 <= cfg["max_batch"]:
            rows_per_call *= 2
            try:
                big = ids[torch.randint(0, batch, (rows_per_call,), device=device)]
                big_lens = lens[:1].expand(rows_per_call)  # every input has length n
                seconds = B.measure(
                    lambda i=big, ln=big_lens, f=fast: f(i, ln), device, cfg["min_time"]
                )
                rate = rows_per_call / seconds
            except torch.cuda.OutOfMemoryError:
                break
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            best = max(best, (rows_per_call, rate), key=lambda b: b[1])
        row["largest_batch_tried"] = rows_per_call
        row["best_batch"], row["best_bare_seq_per_s"] = best
        rows.append(row)
        progress(f"compiled {name}@{n}: {exact:,} of {batch:,} exact")
    return {"machine": B.machine(device), "dtype": "float32", "tf32": False, "rows": rows}


def format_compiled(result: dict[str, Any]) -> str:
    lines = [
        "compiled programs, float32 (TF32 off), sequences/s",
        f"{'program':<11} {'d_model':>7} {'batch':>7} {'e2e':>11} {'bare':>11} "
        f"{'best batch':>10} {'bare':>11} exact",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['program']:<11} {r['d_model']:>7} {r['batch']:>7,} "
            f"{r['e2e_seq_per_s']:>11,.0f} {r['bare_seq_per_s']:>11,.0f} "
            f"{r['best_batch']:>10,} {r['best_bare_seq_per_s']:>11,.0f} "
            f"{'yes' if r['exact'] == r['checked'] else 'NO'}"
        )
    return "\n".join(lines)


def run_section(section: str, device: torch.device, cfg: dict[str, Any]) -> tuple[dict, str]:
    if section == "gemm":
        res = B.bench_gemm(device, [cfg["dtype"]], {cfg["dtype"]: cfg["gemm"]}, [], cfg["min_time"])
        return res, format_gemm(res)
    if section == "attention":
        res = B.bench_attention(
            device,
            cfg["seq_lens"],
            cfg["attn_batch"],
            12,
            64,
            cfg["dtype"],
            True,
            ("sdpa", "math"),
            cfg["min_time"],
        )
        return res, format_attention(res)
    if section == "train":
        preset, batch, seq_len, steps, mode = cfg["train"]
        res = B.bench_train(device, B.preset(preset), batch, seq_len, steps, mode)
        return res, format_train(res)
    res = compiled_section(device, cfg)
    return res, format_compiled(res)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="Tiny sizes on the CPU.")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument(
        "--out",
        default=str(ROOT / "benchmarks" / "results" / "gpu"),
        help="Folder of the JSON files.",
    )
    args = ap.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    if set(sections) - set(SECTIONS):
        ap.error(f"sections are {', '.join(SECTIONS)}")
    if not args.dry_run and not torch.cuda.is_available():
        ap.error("no CUDA device here (use --dry-run to try the script on the CPU)")
    device = pick_device("cpu" if args.dry_run else "cuda")
    if args.dry_run:
        torch.set_num_threads(1)  # tiny sizes on a shared machine: one thread is steadiest
    cfg = sizes(args.dry_run)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress(f"{device_name(device)}: sections {', '.join(sections)}")
    everything: dict[str, Any] = {"dry_run": args.dry_run}
    failed = []
    for section in sections:
        t0 = time.perf_counter()
        try:
            with exact_fp32() if section == "compiled" else contextlib.nullcontext():
                result, text = run_section(section, device, cfg)
        except Exception as err:  # a late failure must not lose the other sections
            failed.append(section)
            progress(f"{section}: failed: {type(err).__name__}: {err}")
            continue
        result["seconds"] = time.perf_counter() - t0
        everything[section] = result
        (out / f"{section}.json").write_text(json.dumps(result, indent=1))
        (out / "gpu.json").write_text(json.dumps(everything, indent=1))
        print(text + "\n", flush=True)
        progress(f"{section}: {result['seconds']:.0f} s, written to {out / (section + '.json')}")
    if "compiled" in everything:
        bad = [r["program"] for r in everything["compiled"]["rows"] if r["exact"] != r["checked"]]
        if bad:
            progress(f"compiled: outputs differ from the interpreter for {', '.join(bad)}")
            failed.append("compiled exactness")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
