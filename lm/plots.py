"""Figures of a scaling report: `loss.png` (loss against N and D, with the fitted law) and
`isoflop.png` (predicted loss along lines of constant compute, and the compute-optimal
allocation); and the learnability table's figure of a program (tokens to reach 99% exact
match against size, beside the compiled model's size). Every axis is named and carries tick
labels, also when the data span less than a decade of a log scale (where matplotlib would
label no tick at all). Figures are built without pyplot, so drawing them sets no backend and
keeps no figure alive."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

from lm import frontier
from lm.frontier import size_key
from lm.scaling import Report, si


def log_axes(ax) -> None:
    """Log scales; minor ticks (2 and 5 times a power of ten) labelled only where fewer than
    two decades are in view (with two or more, the decade labels suffice)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        lo, hi = sorted((lo, hi))
        decades = math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) + 1 if lo > 0 else 2
        if decades >= 2:
            axis.set_minor_formatter(NullFormatter())
        else:  # label minor ticks at 2 and 5 times each power of ten
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
            axis.set_minor_formatter(
                LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(10, 10))
            )


def _levels(rep: Report) -> tuple[np.ndarray, np.ndarray]:
    """Each fitted run's size (the mean N of its seeds) and token budget: the groups of the
    loss plot (seeds of one size may differ by a few parameters, budgets by a step)."""
    rows = rep.fitted_rows()
    by_size: dict[str, list[float]] = {}
    for r in rows:
        by_size.setdefault(size_key(r), []).append(r["params_non_embedding"])
    sizes = np.array([np.mean(by_size[size_key(r)]) for r in rows])
    budgets = np.array([r.get("config", {}).get("tokens", r["tokens"]) for r in rows], float)
    return sizes, budgets


def loss_figure(rep: Report) -> Figure:
    N, D, L = rep.fitted_arrays()
    sizes, budgets = _levels(rep)
    fit = rep.fits.get("free")
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, x, group, xlabel, glabel in (
        (axes[0], N, budgets, "parameters N (non-embedding)", "D"),
        (axes[1], D, sizes, "training tokens D", "N"),
    ):
        levels = np.unique(group)
        colours = colormaps["viridis"](np.linspace(0, 0.9, len(levels)))
        for level, colour in zip(levels, colours, strict=True):
            sel = group == level
            ax.plot(x[sel], L[sel], "o", color=colour, label=f"{glabel}={si(level)}")
            if fit:
                grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 100)
                pred = fit.predict(grid, level) if glabel == "D" else fit.predict(level, grid)
                ax.plot(grid, pred, "-", color=colour, alpha=0.7)
        ax.set_ylim(L.min() / 1.5, L.max() * 1.5)
        log_axes(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{rep.loss_key} (nats)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    title = "loss against N and D" + (" with the fitted law (free E)" if fit else "")
    fig.suptitle(f"{Path(rep.program).stem}: {title}")
    fig.tight_layout()
    return fig


def isoflop_figure(rep: Report) -> Figure:
    fit = rep.fits["free"]
    N, D, L = rep.fitted_arrays()
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    C_obs = 6 * N * D
    budgets = np.geomspace(C_obs.min(), C_obs.max(), 6)
    colours = colormaps["plasma"](np.linspace(0, 0.85, len(budgets)))
    n_grid = np.geomspace(N.min() / 10, N.max() * 10, 300)
    for C, colour in zip(budgets, colours, strict=True):
        ax.plot(n_grid, fit.predict(n_grid, C / (6 * n_grid)), color=colour, label=f"C={C:.2g}")
        n_opt, d_opt = fit.optimal(C)
        ax.plot([n_opt], [fit.predict(n_opt, d_opt)], "*", color=colour, ms=10)
    ax.scatter(N, L, c=np.log10(C_obs), cmap="plasma", s=14, edgecolors="k", lw=0.3)
    ax.set_xlim(n_grid[0], n_grid[-1])
    ax.set_ylim(L.min() / 10, L.max() * 10)  # the curves climb far off on either side
    log_axes(ax)
    ax.set_xlabel("parameters N (non-embedding)")
    ax.set_ylabel(f"predicted {rep.loss_key} (nats)")
    ax.set_title("IsoFLOP curves (stars: optimum)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    c_grid = np.geomspace(C_obs.min() / 10, max(C_obs.max(), rep.budget) * 10, 100)
    n_opt, d_opt = fit.optimal(c_grid)
    ax2.plot(c_grid, n_opt, label="N_opt (parameters)")
    ax2.plot(c_grid, d_opt, label="D_opt (tokens)")
    ax2.axvspan(C_obs.min(), C_obs.max(), color="grey", alpha=0.12, label="swept compute")
    if rep.compiled.params_non_embedding:
        ax2.axhline(
            rep.compiled.params_non_embedding, color="k", ls="--", lw=1, label="compiled model N"
        )
    fr = rep.frontier
    if fr and fr.smallest_N:
        ax2.axhline(fr.smallest_N, color="g", ls=":", lw=1, label="smallest N reaching 99%")
    ax2.axvline(rep.budget, color="grey", lw=0.8)
    log_axes(ax2)
    ax2.set_xlabel("compute C (FLOPs)")
    ax2.set_ylabel("N_opt (parameters), D_opt (tokens)")
    ax2.set_title("compute-optimal allocation (free E)")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3, which="both")
    fig.suptitle(f"{Path(rep.program).stem}: Chinchilla fit")
    fig.tight_layout()
    return fig


def plot(rep: Report, out_dir: str | Path) -> list[Path]:
    """Write `loss.png` and, when a law was fitted, `isoflop.png`; return their paths."""
    out_dir = Path(out_dir)
    paths = []
    figures = [("loss.png", loss_figure)]
    if rep.fits.get("free"):
        figures.append(("isoflop.png", isoflop_figure))
    for name, make in figures:
        fig = make(rep)
        paths.append(out_dir / name)
        fig.savefig(paths[-1], dpi=120)
    return paths


def learnability_figure(entry: dict[str, Any]) -> Figure:
    """Tokens needed to reach 99% exact match against model size (`entry`: one program of
    `benchmarks/learnability.py`'s results), and the compiled size with and without
    embeddings."""
    points = [
        frontier.Point(**{k: p[k] for k in ("N", "D", "correct", "total", "seeds")})
        for p in entry["points"]
    ]
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    top = max(p.D for p in points)
    for n in frontier.needs(points):
        if n.D is not None:
            lo = n.D_lo if n.D_lo is not None else n.first_budget / 2
            hi = n.D_hi if n.D_hi is not None else top * 2
            ax.errorbar([n.N], [n.D], yerr=[[n.D - lo], [hi - n.D]], fmt="o", color="C0", capsize=3)
        else:
            ax.plot([n.N], [top], marker="^", color="C3", ls="none")
    ax.plot([], [], "o", color="C0", label="tokens to reach 99% (90% interval)")
    ax.plot([], [], "^", color="C3", label="not reached within the largest budget")
    comp = entry["compiled"]
    if comp.get("params_non_embedding"):
        ax.axvline(
            comp["params_non_embedding"], color="k", ls="--", lw=1, label="compiled, non-embedding"
        )
        ax.axvline(comp["params"], color="k", ls=":", lw=1, label="compiled, with embeddings")
    log_axes(ax)
    ax.set_xlabel("parameters N (non-embedding)")
    ax.set_ylabel("training tokens D")
    ax.set_title(f"{Path(entry['program']).stem}: learned vs compiled size")
    # Below the axes: inside, it would cover points wherever they fall.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
