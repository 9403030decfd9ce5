"""Scaling sweeps: train a grid of model sizes x token budgets on a program, fit the Chinchilla
law to the results, and report the compute-optimal size beside the compiled model's.

Results go to ``OUT/results.jsonl``, one line per finished run, and each run checkpoints to
``OUT/checkpoints/``, so an interrupted sweep picks up where it stopped: finished runs are read
back, an unfinished one resumes from its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lm import chinchilla
from lm.data import ProgramSpec
from lm.sweep import (  # noqa: F401 (the sweep's API, re-exported)
    DEFAULT_SIZES,
    DEFAULT_TOKENS,
    FIT_ON,
    SweepConfig,
    default_jobs,
    parse_size,
    read_results,
    size_label,
    sweep,
)

EXACT = 0.99


@dataclass
class CompiledSize:
    """The compiled model's shape, its parameters counted as for trained models: all of them,
    and without the token and position tables (the ``N`` of ``C = 6ND``)."""

    layers: int | None = None
    heads: int | None = None
    d_model: int | None = None
    params: int | None = None
    params_non_embedding: int | None = None
    seconds: float | None = None
    error: str | None = None


def compiled_size(spec: ProgramSpec, max_len: int) -> CompiledSize:
    """The compiler's model for the same program and input lengths (or why it has none)."""
    import time

    import compiler
    from compiler import CompileError
    from rasp import RaspError

    start = time.perf_counter()
    try:
        prog = compiler.compile(spec.path, spec.expr, spec.vocab, max_len)
    except (CompileError, RaspError) as err:
        return CompiledSize(error=str(err).splitlines()[0])
    stats = prog.stats
    return CompiledSize(
        stats["layers"],
        stats["heads"],
        stats["d_model"],
        prog.model.num_params(),
        prog.model.num_params(False),
        round(time.perf_counter() - start, 2),
    )


@dataclass
class Report:
    """What a sweep found about a program."""

    program: str
    expr: str
    results: list[dict[str, Any]]
    fit: chinchilla.ChinchillaFit | None
    fit_on: str
    budget: float
    compiled: CompiledSize
    fit_error: str | None = None

    @property
    def smallest_exact(self) -> dict[str, Any] | None:
        """The run with the fewest parameters (then tokens) reaching >= 99% exact match."""
        good = [r for r in self.results if r.get("exact_match", 0.0) >= EXACT]
        return min(good, key=lambda r: (r["params"], r["tokens"])) if good else None

    def as_dict(self) -> dict[str, Any]:
        n_opt, d_opt = self.fit.optimal(self.budget) if self.fit else (None, None)
        return {
            "program": self.program,
            "expr": self.expr,
            "fit_on": self.fit_on,
            "fit": self.fit.as_dict() if self.fit else None,
            "fit_error": self.fit_error,
            "budget_flops": self.budget,
            "n_opt": n_opt,
            "d_opt": d_opt,
            "smallest_exact": _run_summary(self.smallest_exact) if self.smallest_exact else None,
            "compiled": asdict(self.compiled),
            "runs": [_run_summary(r) for r in self.results],
        }

    def text(self) -> str:
        """The report as a table for the terminal (and the README)."""
        key = FIT_ON[self.fit_on]
        ngram = self.results[0]["ngram3_output_ppl"] if self.results else math.nan
        lines = [
            f"program   {self.program} -e {self.expr}",
            f"runs      {len(self.results)}; fitted loss: {key} (nats per token); "
            f"3-gram baseline output perplexity {ngram:.3f} (floor 1)",
            "",
            f"{'model':<9} {'N':>8} {'D':>8} {'C=6ND':>9} {'C exact':>9} {'loss':>9} "
            f"{'out ppl':>8} {'exact':>7} {'long':>7}",
        ]
        for r in sorted(self.results, key=lambda r: (r["params_non_embedding"], r["tokens"])):
            long = r.get("exact_match_long")
            lines.append(
                f"{str(r['layers']) + 'x' + str(r['d_model']):<9} "
                f"{_si(r['params_non_embedding']):>8} {_si(r['tokens']):>8} "
                f"{r['flops_6nd']:>9.2e} {r['flops_exact']:>9.2e} {r[key]:>9.4g} "
                f"{r['val_output_ppl']:>8.4f} {r['exact_match']:>7.1%} "
                f"{'-' if long is None else f'{long:.1%}':>7}"
            )
        lines.append("")
        if self.fit:
            f = self.fit
            n_opt, d_opt = f.optimal(self.budget)
            lines += [
                f"fit       L(N, D) = {f.E:.4f} + {f.A:.4g}/N^{f.alpha:.3f} "
                f"+ {f.B:.4g}/D^{f.beta:.3f}   (Huber objective {f.objective:.3g}, "
                f"{f.n_starts} starts)",
                f"optimum   N_opt = {f.G:.3g} (C/6)^{f.a:.3f},  "
                f"D_opt = (C/6)^{f.b:.3f} / {f.G:.3g}",
                f"budget    C = {self.budget:.3g} FLOPs: N_opt = {_si(n_opt)} parameters, "
                f"D_opt = {_si(d_opt)} tokens, predicted loss {float(f.predict(n_opt, d_opt)):.4g}",
            ]
        else:
            lines.append(f"fit       none: {self.fit_error}")
        best = self.smallest_exact
        if best:
            lines.append(
                f"learned   smallest model with >= {EXACT:.0%} exact match: {best['layers']} "
                f"layers, d_model {best['d_model']}, N = {_si(best['params_non_embedding'])} "
                f"({_si(best['params'])} with embeddings), after D = {_si(best['tokens'])} tokens"
            )
        else:
            lines.append(f"learned   no run reached {EXACT:.0%} exact match")
        c = self.compiled
        if c.error:
            lines.append(f"compiled  not compilable: {c.error}")
        else:
            lines.append(
                f"compiled  {c.layers} layers, {c.heads} heads, d_model {c.d_model}, "
                f"{_si(c.params)} parameters (exact by construction, no training)"
            )
        return "\n".join(lines)


def _run_summary(r: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "key",
        "layers",
        "d_model",
        "params",
        "params_non_embedding",
        "tokens",
        "flops_6nd",
        "flops_exact",
        "val_output_nll",
        "val_sequence_nll",
        "exact_match",
        "exact_match_long",
    )
    return {k: r[k] for k in keys if k in r}


def _si(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def fit_results(
    results: Iterable[dict[str, Any]], fit_on: str = "outputs"
) -> chinchilla.ChinchillaFit:
    """Fit the law to runs: ``N`` non-embedding parameters, ``D`` tokens, validation NLL."""
    rows = [r for r in results if r.get(FIT_ON[fit_on], 0) > 0]
    N = np.array([r["params_non_embedding"] for r in rows], dtype=float)
    D = np.array([r["tokens"] for r in rows], dtype=float)
    loss = np.array([r[FIT_ON[fit_on]] for r in rows], dtype=float)
    return chinchilla.fit(N, D, loss)


def report(
    config: SweepConfig, results: list[dict[str, Any]], budget: float, *, compile_model: bool
) -> Report:
    spec = ProgramSpec.from_file(config.base.program, config.base.expr, config.base.vocab)
    fit, error = None, None
    try:
        fit = fit_results(results, config.fit_on)
    except ValueError as err:
        error = str(err)
    compiled = (
        compiled_size(spec, config.base.max_len)
        if compile_model
        else CompiledSize(error="skipped (--no-compiled)")
    )
    return Report(spec.path, spec.expr, results, fit, config.fit_on, budget, compiled, error)


def plot(rep: Report, out_dir: str | Path) -> list[Path]:
    """``loss.png`` (loss against N and against D, with the fitted law) and ``isoflop.png``
    (predicted loss along lines of constant compute, and the compute-optimal frontier)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    key = FIT_ON[rep.fit_on]
    rows = [r for r in rep.results if r.get(key, 0) > 0]
    N = np.array([r["params_non_embedding"] for r in rows], dtype=float)
    D = np.array([r["tokens"] for r in rows], dtype=float)
    L = np.array([r[key] for r in rows], dtype=float)
    name = Path(rep.program).stem
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, x, group, xlabel, glabel in (
        (axes[0], N, D, "parameters N (non-embedding)", "D"),
        (axes[1], D, N, "training tokens D", "N"),
    ):
        levels = np.unique(group)
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(levels)))
        for level, colour in zip(levels, colours, strict=True):
            sel = group == level
            order = np.argsort(x[sel])
            ax.plot(x[sel][order], L[sel][order], "o", color=colour, label=f"{glabel}={_si(level)}")
            if rep.fit:
                grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 100)
                pred = (
                    rep.fit.predict(grid, level) if glabel == "D" else rep.fit.predict(level, grid)
                )
                ax.plot(grid, pred, "-", color=colour, alpha=0.7)
        _log_axes(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{key} (nats)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{name}: loss against N and D" + (" with the fitted law" if rep.fit else ""))
    fig.tight_layout()
    paths.append(out_dir / "loss.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    if rep.fit:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        C_obs = 6 * N * D
        budgets = np.geomspace(C_obs.min(), C_obs.max(), 6)  # the budget asked for: right
        colours = plt.cm.plasma(np.linspace(0, 0.85, len(budgets)))
        n_grid = np.geomspace(N.min() / 10, N.max() * 10, 300)
        for C, colour in zip(budgets, colours, strict=True):
            pred = rep.fit.predict(n_grid, C / (6 * n_grid))
            ax.plot(n_grid, pred, color=colour, label=f"C={C:.2g}")
            n_opt, d_opt = rep.fit.optimal(C)
            ax.plot([n_opt], [rep.fit.predict(n_opt, d_opt)], "*", color=colour, ms=10)
        ax.scatter(N, L, c=np.log10(C_obs), cmap="plasma", s=14, edgecolors="k", lw=0.3)
        _log_axes(ax)
        ax.set_ylim(L.min() / 10, L.max() * 10)  # the curves climb far off on either side
        ax.set_xlabel("parameters N")
        ax.set_ylabel(f"predicted {key}")
        ax.set_title("IsoFLOP curves (stars: optimum)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
        c_grid = np.geomspace(C_obs.min() / 10, max(C_obs.max(), rep.budget) * 10, 100)
        n_opt, d_opt = rep.fit.optimal(c_grid)
        ax2.plot(c_grid, n_opt, label="N_opt (parameters)")
        ax2.plot(c_grid, d_opt, label="D_opt (tokens)")
        if rep.compiled.params:
            ax2.axhline(rep.compiled.params, color="k", ls="--", lw=1, label="compiled model")
        best = rep.smallest_exact
        if best:
            ax2.axhline(
                best["params_non_embedding"],
                color="g",
                ls=":",
                lw=1,
                label=f"smallest >= {EXACT:.0%} exact",
            )
        ax2.axvline(rep.budget, color="grey", lw=0.8)
        _log_axes(ax2)
        ax2.set_xlabel("compute C (FLOPs)")
        ax2.set_title("compute-optimal allocation")
        ax2.legend(fontsize=7)
        ax2.grid(alpha=0.3, which="both")
        fig.suptitle(f"{name}: Chinchilla fit")
        fig.tight_layout()
        paths.append(out_dir / "isoflop.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def _log_axes(ax) -> None:
    """Log scales with labels on the decades only (minor labels overlap on short ranges)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
