"""Scaling reports: what a sweep (`lm.sweep`) says about a program.

Two estimators, each with its uncertainty. The Chinchilla law `L = E + A/N^alpha +
B/D^beta` fitted to the validation loss, twice: with `E` free and with `E = 0` (a
deterministic program's floor), each with bootstrap intervals on the constants and on
`N_opt`/`D_opt` at the budget, which is marked as an extrapolation when it lies outside
the swept compute. And the least training that reaches 99% exact match (`lm.frontier`),
with Wilson intervals. Beside them, the compiled model's size, counted the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import compiler
from lm import chinchilla, frontier
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
from lm.uncertainty import Bootstrap, bootstrap
from rasp.errors import RaspError

EXACT = frontier.TARGET
#: Float64 evaluation resolves an NLL down to about this (logits of ~10, eps 2e-16); runs
#: below it are reported as such and left out of the fit (the law lives on log loss).
RESOLUTION = 1e-13


@dataclass
class CompiledSize:
    """The compiled model's shape, its parameters counted as for trained models: all of them,
    and without the token and position tables (the `N` of `C = 6ND`)."""

    layers: int | None = None
    heads: int | None = None
    d_model: int | None = None
    params: int | None = None
    params_non_embedding: int | None = None
    error: str | None = None


def compiled_size(spec: ProgramSpec, max_len: int) -> CompiledSize:
    """The compiler's model for the same program and input lengths (or why it has none)."""
    try:
        prog = compiler.compile(spec.path, spec.expr, spec.vocab, max_len)
    except RaspError as err:  # a CompileError is one
        return CompiledSize(error=str(err).splitlines()[0])
    stats = prog.stats
    return CompiledSize(
        stats["layers"],
        stats["heads"],
        stats["d_model"],
        prog.model.num_params(),
        prog.model.num_params(False),
    )


@dataclass
class Report:
    """What a sweep found about a program: the runs, both fits and their bootstraps (keyed
    `free` and `E0`), the budget, and the compiled model's size."""

    program: str
    expr: str
    results: list[dict[str, Any]]
    fit_on: str
    budget: float
    compiled: CompiledSize
    fits: dict[str, chinchilla.ChinchillaFit | None] = field(default_factory=dict)
    boots: dict[str, Bootstrap | None] = field(default_factory=dict)
    fit_error: str | None = None

    @property
    def loss_key(self) -> str:
        return FIT_ON[self.fit_on]

    def fitted_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r.get(self.loss_key, 0) > RESOLUTION]

    def fitted_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self.fitted_rows()
        return tuple(
            np.array([r[k] for r in rows], dtype=float)
            for k in ("params_non_embedding", "tokens", self.loss_key)
        )

    @property
    def swept_compute(self) -> tuple[float, float]:
        c = [6.0 * r["params_non_embedding"] * r["tokens"] for r in self.results]
        return (min(c), max(c)) if c else (math.nan, math.nan)

    @property
    def extrapolation(self) -> float | None:
        """How far the budget lies outside the swept compute (a factor), or None inside."""
        lo, hi = self.swept_compute
        if self.budget > hi * (1 + 1e-9):
            return self.budget / hi
        if self.budget < lo * (1 - 1e-9):
            return lo / self.budget
        return None

    @property
    def frontier(self) -> frontier.Frontier | None:
        rows = [r for r in self.results if "test_examples" in r]
        return frontier.frontier(frontier.pool(rows)) if rows else None

    @property
    def smallest_exact(self) -> dict[str, Any] | None:
        """The run with the fewest parameters (then tokens) reaching >= 99% exact match."""
        good = [r for r in self.results if r.get("exact_match", 0.0) >= EXACT]
        return min(good, key=lambda r: (r["params"], r["tokens"])) if good else None

    def as_dict(self) -> dict[str, Any]:
        fits = {}
        for name, fit in self.fits.items():
            if fit is None:
                continue
            n_opt, d_opt = fit.optimal(self.budget)
            entry = {"fit": fit.as_dict(), "n_opt": n_opt, "d_opt": d_opt}
            boot = self.boots.get(name)
            if boot is not None:
                n_int, d_int = boot.optimal(self.budget)
                entry["intervals"] = {k: v.as_list() for k, v in boot.constants().items()}
                entry |= {"n_opt_interval": n_int.as_list(), "d_opt_interval": d_int.as_list()}
            fits[name] = entry
        fr = self.frontier
        free = fits.get("free", {})
        return {
            "program": self.program,
            "expr": self.expr,
            "fit_on": self.fit_on,
            "fits": fits,
            "fit": fits["free"]["fit"] if "free" in fits else None,  # the free fit, as before
            "fit_error": self.fit_error,
            "budget_flops": self.budget,
            "swept_compute": list(self.swept_compute),
            "extrapolation": self.extrapolation,
            "n_opt": free.get("n_opt"),
            "d_opt": free.get("d_opt"),
            "runs_below_resolution": len(self.results) - len(self.fitted_rows()),
            "frontier": fr.as_dict() if fr else None,
            "smallest_exact": _run_summary(self.smallest_exact) if self.smallest_exact else None,
            "compiled": asdict(self.compiled),
            "runs": [_run_summary(r) for r in self.results],
        }

    def text(self) -> str:
        """The report for the terminal (and the README), within 80 columns."""
        key = self.loss_key
        ngram = self.results[0].get("ngram3_output_ppl", math.nan) if self.results else math.nan
        seeds = sorted({_seed(r) for r in self.results})
        lines = [
            f"program   {self.program} -e {self.expr}",
            f"runs      {len(self.results)} ({len(seeds)} seed{'s' * (len(seeds) > 1)}); "
            f"fitted: {key} (nats/token)",
            f"baseline  3-gram output perplexity {ngram:.3f} (floor 1)",
            "",
            f"{'model':<8}{'N':>7}{'D':>7}{'seed':>5}{'C=6ND':>10}{'C exact':>10}"
            f"{'loss':>10}{'exact':>8}{'long':>8}",
        ]
        for r in sorted(
            self.results, key=lambda r: (r["params_non_embedding"], _budget(r), _seed(r))
        ):
            long = r.get("exact_match_long")
            lines.append(
                f"{str(r['layers']) + 'x' + str(r['d_model']):<8}"
                f"{si(r['params_non_embedding']):>7}{si(r['tokens']):>7}{_seed(r):>5}"
                f"{r['flops_6nd']:>10.3g}{r['flops_exact']:>10.3g}{_loss(r[key]):>10}"
                f"{r['exact_match']:>8.1%}{'-' if long is None else f'{long:.1%}':>8}"
            )
        lines.append("")
        below = len(self.results) - len(self.fitted_rows())
        if below:
            lines.append(
                f"note      {below} run(s) below float64 resolution ({RESOLUTION:g}): not fitted"
            )
        lines += self._fit_lines() + self._exact_lines() + self._compiled_lines()
        return "\n".join(lines)

    def _fit_lines(self) -> list[str]:
        if not any(self.fits.values()):
            return [f"fit       none: {self.fit_error}"]
        lo, hi = self.swept_compute
        where = (
            f"extrapolation: {self.extrapolation:.3g}x outside {lo:.2g}-{hi:.2g}"
            if self.extrapolation
            else f"inside the swept {lo:.2g}-{hi:.2g}"
        )
        lines = [f"budget    C = {self.budget:.3g} FLOPs ({where})"]
        min_loss = min(r[self.loss_key] for r in self.fitted_rows())
        for name, label in (("free", "fit"), ("E0", "fit E=0")):
            fit = self.fits.get(name)
            if fit is None:
                continue
            boot = self.boots.get(name)
            ints = boot.constants() if boot else {}
            huber = f" (Huber {fit.objective:.2g})" if math.isfinite(fit.objective) else ""
            law = "A/N^alpha + B/D^beta" if fit.fixed_E else "E + A/N^alpha + B/D^beta"
            lines.append(
                f"{label:<10}L = {law}{huber}"
                + (f", {len(boot.theta)} resamples:" if boot else ":")
            )
            lines.append(
                f"{'':<10}A {_v(fit.A, ints.get('A'))}  alpha {_v(fit.alpha, ints.get('alpha'))}"
            )
            lines.append(
                f"{'':<10}B {_v(fit.B, ints.get('B'))}  beta {_v(fit.beta, ints.get('beta'))}"
            )
            if not fit.fixed_E:
                lines.append(f"{'':<10}E {_v(fit.E, ints.get('E'))}")
            n_opt, d_opt = fit.optimal(self.budget)
            n_int, d_int = boot.optimal(self.budget) if boot else (None, None)
            lines.append(f"{'':<10}N_opt {_vs(n_opt, n_int)}, D_opt {_vs(d_opt, d_int)}")
            pred = float(fit.predict(n_opt, d_opt)) if math.isfinite(n_opt) else math.nan
            note = " (below every measured loss)" if pred < min_loss else ""
            lines.append(f"{'':<10}predicted loss at the optimum {pred:.3g}{note}")
        return lines

    def _exact_lines(self) -> list[str]:
        fr = self.frontier
        if fr is None or fr.smallest_N is None:
            lines = [f"learned   no size reached {EXACT:.0%} exact match (seeds pooled)"]
            rows = [r for r in self.results if "test_examples" in r]
            if rows:
                best = max(frontier.pool(rows), key=lambda p: (p.rate, -p.N, -p.D))
                lo, hi = best.interval
                lines.append(
                    f"{'':<10}best {best.rate:.1%} [{lo:.1%}, {hi:.1%}] at N {si(best.N)}, "
                    f"D {si(best.D)}"
                )
            return lines
        with_emb = self._learned_params()
        return [
            f"learned   smallest N reaching {EXACT:.0%} exact match (seeds pooled): "
            f"{si(fr.smallest_N)}",
            f"{'':<10}N {span(fr.smallest_N_lo, fr.smallest_N_hi)} "
            f"({si(with_emb)} with embeddings), D {si(fr.smallest_D)} "
            f"{span(fr.smallest_D_lo, fr.smallest_D_hi)}",
            f"{'':<10}least compute: C {fr.C_min:.3g} {span(fr.C_min_lo, fr.C_min_hi, _g2)} "
            f"at N {si(fr.C_min_N)}, D {si(fr.C_min_D)}",
        ]

    def _compiled_lines(self) -> list[str]:
        c = self.compiled
        if c.error:
            return [f"compiled  not compilable: {c.error}"]
        line = (
            f"compiled  {c.layers} layers, {c.heads} heads, d_model {c.d_model}: "
            f"N {si(c.params_non_embedding)} ({si(c.params)} with embeddings)"
        )
        lines = [line]
        fr = self.frontier
        if fr and fr.smallest_N and c.params_non_embedding:
            lines.append(
                f"{'':<10}learned / compiled: {fr.smallest_N / c.params_non_embedding:.3g}x "
                f"(non-embedding), {self._learned_params() / c.params:.3g}x (all)"
            )
        return lines

    def _learned_params(self) -> int:
        fr = self.frontier
        rows = [r for r in self.results if "test_examples" in r]
        return next(p.params for p in frontier.pool(rows) if p.N == fr.smallest_N)


def _budget(r: dict[str, Any]) -> int:
    return int(r.get("config", {}).get("tokens", r["tokens"]))


def _seed(r: dict[str, Any]) -> int:
    return int(r.get("config", {}).get("seed", 0))


def _loss(x: float) -> str:
    return f"<{RESOLUTION:g}" if x <= RESOLUTION else f"{x:.4g}"


def _v(x: float, interval=None) -> str:
    """A constant and its 90% interval: `0.33 [0.2, 0.4]`."""
    text = f"{x:.3g}"
    return text if interval is None else f"{text} {span(interval.lo, interval.hi, _g2)}"


def _vs(x: float, interval=None) -> str:
    return si(x) if interval is None else f"{si(x)} {span(interval.lo, interval.hi)}"


def _g2(x: float) -> str:
    return f"{x:.2g}"


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
        "test_examples",
        "exact_match_long",
        "long_examples",
        "long_output_nll",
    )
    out = {k: r[k] for k in keys if k in r}
    out["seed"] = _seed(r)
    return out


def si(x: float | None) -> str:
    """A count in SI units at 3 significant digits (12.3k, 4.5M); `-` for none."""
    if x is None or not math.isfinite(x):
        return "-"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def span(
    lo: float | None, hi: float | None, fmt: Callable[[float], str] = si, above: str = ">"
) -> str:
    """A 90% interval `[lo, hi]`; an open end is one the grid did not close: `[>x]`
    (`above` is `>=` for a size that may itself be the answer), `[<=x]`, or `[open]`
    with neither."""
    if lo is None and hi is None:
        return "[open]"
    if lo is None:
        return f"[<={fmt(hi)}]"
    if hi is None:
        return f"[{above}{fmt(lo)}]"
    return f"[{fmt(lo)}, {fmt(hi)}]"


def report(
    config: SweepConfig,
    results: list[dict[str, Any]],
    budget: float | None,
    *,
    compile_model: bool,
    n_boot: int = 200,
    log: Callable[[str], None] = lambda _m: None,
) -> Report:
    """Fit both laws (and bootstrap them), find the frontier, compile the program. `budget`
    None: the largest swept compute, the largest budget that is not an extrapolation."""
    spec = ProgramSpec.from_file(
        config.base.program, config.base.expr, config.base.vocab, config.base.max_len
    )
    compiled = (
        compiled_size(spec, config.base.max_len)
        if compile_model
        else CompiledSize(error="skipped (--no-compiled)")
    )
    rep = Report(spec.path, spec.expr, results, config.fit_on, budget or 0.0, compiled)
    if budget is None:
        rep.budget = rep.swept_compute[1]
    N, D, L = rep.fitted_arrays()
    for name, fix in (("free", False), ("E0", True)):
        try:
            log(f"fit {name}: {len(L)} runs, Hoffmann's 4,500 starts")
            rep.fits[name] = chinchilla.fit(N, D, L, fix_E0=fix)
        except ValueError as err:
            rep.fits[name], rep.fit_error = None, str(err)
            continue
        if n_boot:
            log(f"fit {name}: bootstrap, {n_boot} resamples")
            rep.boots[name] = bootstrap(N, D, L, rep.fits[name], n_boot=n_boot)
    return rep
