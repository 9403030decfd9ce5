"""The learnability table: how big a trained transformer must be to learn each RASP program,
against the size of the model the compiler writes for it.

Usage: python benchmarks/learnability.py [--programs examples/sort.rasp,...] [--json]
       [--recompile | --reanalyse]

For every program in `examples/` (inputs over the header's vocabulary, lengths 1..max-len)
it sweeps model sizes x token budgets x seeds (`lm.sweep`, Ray tasks), then reports:
the smallest trained model reaching >= 99% exact match on held-out inputs (N, the D it needed
and the compute 6ND, with 90% intervals from Wilson bounds on exact match), the least compute
reaching it, the Chinchilla N_opt at a budget inside the swept compute (free fit and E = 0,
90% bootstrap intervals), exact match on held-out longer inputs, and the compiled model's size
counted the same way (with and without embeddings) with the ratio learned / compiled.

Results go to `benchmarks/results/learnability.json` after each program (a rerun skips the
programs already there with the same settings, and sweeps resume run by run), plots to
`lm/figures/learnability/`. `--recompile` re-reads only the compiled sizes of the programs
already there, with the current compiler, and needs no runs; `--reanalyse` redoes the
analysis from the runs (`--runs-dir`), which are not part of the repository.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lm import chinchilla, frontier  # noqa: E402
from lm.data import ProgramSpec  # noqa: E402
from lm.plots import learnability_figure  # noqa: E402
from lm.scaling import CompiledSize, compiled_size, si, span  # noqa: E402
from lm.sweep import SweepConfig, default_jobs, parse_size, start_ray, sweep  # noqa: E402
from lm.train import TrainConfig  # noqa: E402
from lm.uncertainty import bootstrap  # noqa: E402

#: Float64 evaluation resolves an NLL down to about this (logits of ~10 with eps 2e-16).
RESOLUTION = 1e-13


def machine() -> str:
    """The CPU (or GPU) this ran on, in a few words."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}"


def settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("sizes", "tokens", "seeds", "max_len", "examples", "long", "n_long", "position")
    return {k: getattr(args, k) for k in keys}


def _fit_block(rows: list[dict[str, Any]], budget: float, n_boot: int) -> dict[str, Any]:
    """Free and E = 0 fits of the validation output NLL, each with bootstrap intervals."""
    usable = [r for r in rows if r["val_output_nll"] > RESOLUTION]
    out: dict[str, Any] = {
        "runs_fitted": len(usable),
        "runs_at_resolution": len(rows) - len(usable),
        "budget_flops": budget,
    }
    if len(usable) < 5:
        out["error"] = f"{len(usable)} runs above float64 resolution: too few to fit"
        return out
    N = [r["params_non_embedding"] for r in usable]
    D = [r["tokens"] for r in usable]
    L = [r["val_output_nll"] for r in usable]
    for name, fix in (("free", False), ("E0", True)):
        fit = chinchilla.fit(N, D, L, fix_E0=fix)
        boot = bootstrap(N, D, L, fit, n_boot=n_boot)
        n_int, d_int = boot.optimal(budget)
        n_opt, d_opt = fit.optimal(budget)
        out[name] = {
            "fit": fit.as_dict(),
            "intervals": {k: v.as_list() for k, v in boot.constants().items()},
            "n_opt": n_opt,
            "n_opt_interval": n_int.as_list(),
            "d_opt": d_opt,
            "d_opt_interval": d_int.as_list(),
        }
    return out


def _best(points: list[frontier.Point]) -> frontier.Point:
    """The grid point with the highest pooled exact match (the smallest, then cheapest)."""
    return max(points, key=lambda p: (p.rate, -p.N, -p.D))


def _long_block(rows: list[dict[str, Any]], size: str, D: float) -> dict[str, Any] | None:
    """Exact match on held-out longer inputs (seeds pooled) and their output perplexity, for
    model `size` at the first budget of at least `D`."""
    at = [r for r in rows if frontier.size_key(r) == size and "exact_match_long" in r]
    budgets = sorted({r["config"]["tokens"] for r in at if r["tokens"] >= D * 0.999})
    if not budgets:
        budgets = sorted({r["config"]["tokens"] for r in at})[-1:]
    if not budgets:
        return None
    sel = [r for r in at if r["config"]["tokens"] == budgets[0]]
    total = sum(r["long_examples"] for r in sel)
    correct = sum(round(r["exact_match_long"] * r["long_examples"]) for r in sel)
    nll = sum(r["long_output_nll"] for r in sel) / len(sel)
    return {
        "size": size,
        "tokens_budget": budgets[0],
        "exact_match": correct / total,
        "interval": list(frontier.wilson(correct, total)),
        "output_ppl": math.exp(nll),
    }


def ratios(
    learned: float | None, learned_params: float | None, compiled: CompiledSize
) -> dict[str, float | None]:
    """Learned over compiled size, counted the same way: without embeddings and with."""
    if learned is None or learned_params is None or not compiled.params_non_embedding:
        return {"ratio_non_embedding": None, "ratio_with_embeddings": None}
    return {
        "ratio_non_embedding": learned / compiled.params_non_embedding,
        "ratio_with_embeddings": learned_params / compiled.params,
    }


def recompile(entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` with the compiled model re-read from the current compiler, and the ratios
    with it. The compiler changes more often than the trained runs, which this does not need
    (they may live on another machine): the table's compiled sizes stay current."""
    spec = ProgramSpec.from_file(entry["program"], entry["expr"], entry["vocab"])
    compiled = compiled_size(spec, entry["max_len"])
    learned = entry["frontier"]["smallest_N"]
    return {
        **entry,
        "compiled": asdict(compiled),
        **ratios(learned, entry["learned_params"], compiled),
    }


def analyse(rows: list[dict[str, Any]], compiled: CompiledSize, n_boot: int) -> dict[str, Any]:
    points = frontier.pool(rows)
    fr = frontier.frontier(points)
    compute = [6.0 * p.N * p.D for p in points]
    budget = max(compute)  # the largest swept compute: inside the data, not an extrapolation
    learned = fr.smallest_N
    best = _best(points)
    with_emb = None
    size = best.size
    if learned is not None:
        at = next(p for p in points if p.N == learned)
        with_emb, size = at.params, at.size
    return {
        "frontier": fr.as_dict(),
        "points": [{**asdict(p), "interval": list(p.interval)} for p in points],
        "swept_compute": [min(compute), max(compute)],
        "learned_params": with_emb,
        **ratios(learned, with_emb, compiled),
        "best": {**asdict(best), "interval": list(best.interval)},
        "chinchilla": _fit_block(rows, budget, n_boot),
        # Longer inputs: the smallest model that learned the program, else the best one.
        "long": _long_block(rows, size, fr.smallest_D or best.D),
    }


def run_program(path: str, args: argparse.Namespace, log) -> dict[str, Any]:
    spec = ProgramSpec.from_file(path)
    max_len = min(args.max_len, spec.max_len)
    started = time.perf_counter()
    compiled = compiled_size(spec, max_len)
    base = TrainConfig(
        program=path,
        expr=spec.expr,
        vocab=spec.vocab,
        max_len=max_len,
        n_examples=args.examples,
        long_range=(max_len + 1, max_len + args.long) if args.long else None,
        n_long=args.n_long,
        progress=not args.json,
    )
    config = SweepConfig(
        base=base,
        sizes=[parse_size(s, args.position) for s in args.sizes.split(",")],
        token_budgets=[int(float(t.rstrip("k")) * 1000) for t in args.tokens.split(",")],
        seeds=[int(s) for s in args.seeds.split(",")],
        out_dir=str(Path(args.runs_dir) / Path(path).stem),
        jobs=args.jobs,
    )
    rows = sweep(config, log=log)
    trained = time.perf_counter() - started
    entry = {
        "program": path,
        "expr": spec.expr,
        "vocab": spec.vocab,
        "max_len": max_len,
        "settings": settings(args),
        "machine": machine(),
        "compiled": asdict(compiled),
        **analyse(rows, compiled, args.bootstrap),
        "runs": len(rows),
        "train_minutes": round(trained / 60, 2),
    }
    entry["minutes"] = round((time.perf_counter() - started) / 60, 2)
    return entry


def table(entries: list[dict[str, Any]]) -> str:
    """The learnability table, four lines per program: the estimates, their 90% intervals
    (an open end, `>x` or `<=x`, is a bound the grid did not close) with the budget of
    `N_opt`, then the sizes counted with embeddings and the longer inputs' perplexity."""
    head = (
        f"{'program':<13}{'learned N':>9}{'D':>7}{'C min':>8}{'best':>6}{'N_opt':>7}"
        f"{'E=0':>7}{'compiled':>9}{'ratio':>6}{'long':>6}"
    )
    lines = [head, "-" * len(head)]
    for e in entries:
        fr, ch, comp, long = e["frontier"], e["chinchilla"], e["compiled"], e["long"]
        N, D = fr["smallest_N"], fr["smallest_D"]
        free, e0 = ch.get("free"), ch.get("E0")
        ratio = e["ratio_non_embedding"]
        best = e["best"]["correct"] / e["best"]["total"]
        lines.append(
            f"{Path(e['program']).stem:<13}{si(N) if N else 'none':>9}{si(D):>7}"
            f"{si(fr['C_min']):>8}{_pct(best):>6}{si(free['n_opt']) if free else '-':>7}"
            f"{si(e0['n_opt']) if e0 else '-':>7}{si(comp['params_non_embedding']):>9}"
            f"{_times(ratio):>6}"
            f"{_pct(long['exact_match']) if long else '-':>6}"
        )
        if N:
            N_range = span(fr["smallest_N_lo"], fr["smallest_N_hi"], above=">=")
            D_range = span(fr["smallest_D_lo"], fr["smallest_D_hi"])
            C_range = span(fr["C_min_lo"], fr["C_min_hi"])
            lines.append(f"  90%: N {N_range}  D {D_range}  C min {C_range}"[:80])
        else:
            b = e["best"]
            lines.append(
                f"  best: {_pct(best)} [{_pct(b['interval'][0])}, {_pct(b['interval'][1])}] "
                f"at N {si(b['N'])}, D {si(b['D'])}"
            )
        n_range = span(*free["n_opt_interval"]) if free else "-"
        e0_range = span(*e0["n_opt_interval"]) if e0 else "-"
        at = f"  at C {si(ch['budget_flops'])}" if free or e0 else ""
        lines.append(f"  90%: N_opt {n_range}  E=0 {e0_range}{at}"[:80])
        lines.append(_with_embeddings(e)[:80])
    return "\n".join(lines)


def _with_embeddings(e: dict[str, Any]) -> str:
    """The fourth line of a program: learned and compiled sizes with embeddings, and the
    output perplexity on the longer inputs."""
    comp = e["compiled"]
    if not comp.get("params"):
        sizes = "compiled -"
    elif e["learned_params"]:
        ratio = _times(e["ratio_with_embeddings"])
        sizes = f"learned {si(e['learned_params'])}, compiled {si(comp['params'])} ({ratio})"
    else:
        sizes = f"compiled {si(comp['params'])}"
    long = f"; long: output ppl {e['long']['output_ppl']:.3g}" if e["long"] else ""
    return f"  with embeddings: {sizes}{long}"


def _times(ratio: float | None) -> str:
    if not ratio:
        return "-"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def _pct(x: float) -> str:
    """Whole percents, with a decimal near 100% (98.7% is not 99%)."""
    return f"{x:.1%}" if 0.95 <= x < 1 else f"{x:.0%}"


def legend(entries: list[dict[str, Any]]) -> str:
    """What the columns mean, and where and how the table was made (lines within 80)."""
    if not entries:
        return ""
    e = entries[0]
    s = e["settings"]
    lines = [
        f"machine: {e['machine']}",
        f"time: {sum(x['minutes'] for x in entries):.0f} min for {len(entries)} programs "
        f"({sum(x['train_minutes'] for x in entries):.0f} of them training)",
        f"grid: sizes {s['sizes']} x tokens {s['tokens']} x seeds {s['seeds']};",
        f"  inputs of length 1..min(header, {s['max_len']}), up to {s['examples']} sampled",
        "learned N: smallest size (non-embedding) whose runs, seeds pooled, reach >= 99%",
        "  exact match on held-out inputs; D: tokens it needed (log-interpolated);",
        "  C min: least 6ND reaching 99%; intervals from 90% Wilson bounds at the grid",
        "  points around the crossing, open (>x, <=x, open) where the grid did not close",
        "  them (>=x: that size may itself be the answer);",
        "  best: the highest exact match of any grid point (seeds pooled)",
        "N_opt, E=0: Chinchilla fit of validation output NLL (free E / E fixed at 0) at",
        "  the largest swept compute C (in range), 90% bootstrap intervals",
        "compiled: the compiler's model, non-embedding parameters; ratio = learned N /",
        f"  compiled N; long: exact match on lengths max+1..max+{s['long']} (the learned",
        "  model, else the best); with embeddings: both sizes and their ratio counting",
        "  the token and position tables, and the long inputs' output perplexity",
    ]
    return "\n".join(lines)


def plot(entry: dict[str, Any], out_dir: Path) -> Path:
    """Write the program's figure of learned against compiled size; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{Path(entry['program']).stem}.png"
    learnability_figure(entry).savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default=",".join(sorted(glob.glob("examples/*.rasp"))))
    parser.add_argument("--sizes", default="2x16,2x32,2x64")
    parser.add_argument("--tokens", default="50k,100k,200k,400k")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-len", type=int, default=8)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=2, help="held-out lengths above max-len")
    parser.add_argument("--n-long", type=int, default=500)
    parser.add_argument("--position", default="learned", choices=["learned", "rope", "none"])
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--runs-dir", default="runs/learnability")
    parser.add_argument("--out", default="benchmarks/results/learnability.json")
    parser.add_argument("--plots", default="lm/figures/learnability")
    parser.add_argument("--json", action="store_true", help="no progress; print the JSON")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--reanalyse", action="store_true", help="redo the analysis of programs already done"
    )
    again.add_argument(
        "--recompile",
        action="store_true",
        help="re-read only the compiled sizes (and redraw the plots) of programs already done: "
        "needs no runs",
    )
    args = parser.parse_args(argv)
    log = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(args.out)
    saved = json.loads(out.read_text()) if out.exists() else {"programs": {}}
    programs = [p for p in args.programs.split(",") if p]
    if args.jobs > 1:
        start_ray(args.jobs)  # once for all programs (a start takes seconds)
    for i, path in enumerate(programs, 1):
        old = saved["programs"].get(path)
        done = old is not None and old.get("settings") == settings(args)
        if done and args.recompile:
            entry = recompile(old)
            log(f"[{i}/{len(programs)}] {path}: compiled {entry['compiled']}")
        elif done and not args.reanalyse:
            log(f"[{i}/{len(programs)}] {path}: in {out} already")
            continue
        else:
            log(f"[{i}/{len(programs)}] {path}")
            entry = run_program(path, args, log)
        if done and args.reanalyse:
            # The runs were trained before: keep how long that took.
            entry["analysis_minutes"] = entry["minutes"]
            entry["train_minutes"], entry["minutes"] = old["train_minutes"], old["minutes"]
        plot(entry, Path(args.plots))
        saved["programs"][path] = entry
        saved["machine"] = entry["machine"]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(saved, indent=1))
        tmp.replace(out)
        if not args.recompile:
            log(f"[{i}/{len(programs)}] {path}: {entry['minutes']} min")
    entries = [saved["programs"][p] for p in programs if p in saved["programs"]]
    if args.json:
        print(json.dumps({"machine": saved.get("machine"), "programs": entries}))
    else:
        print(table(entries))
        print()
        print(legend(entries))


if __name__ == "__main__":
    main()
