"""L-BFGS over many independent problems at once: the rows of one `[problems, dim]` array.

The Chinchilla fit starts from 4,500 points and the bootstrap refits hundreds of resamples; a
loop of scipy calls takes minutes. Here every row runs the two-loop recursion and an Armijo
line search together as array operations, each with its own curvature history, step size and
stopping test, and rows that have converged drop out of the work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: `fun(x[idx], idx) -> (f, grad)`: the objective of the rows `idx`.
Objective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def batched_lbfgs(
    x: np.ndarray,
    fun: Objective,
    *,
    memory: int = 10,
    max_iter: int = 500,
    gtol: float = 1e-10,
    ftol: float = 1e-10,
    c1: float = 1e-4,
    max_backtracks: int = 30,
    max_move: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Minimise independent problems, one per row of `x`, with L-BFGS.

    `fun(x[idx], idx) -> (f, grad)` evaluates any subset of rows. Each row has its own history,
    step size and stopping test; a rejected curvature pair is stored with `rho = 0`, which
    makes it a no-op in the two-loop recursion, so all rows can share one ring buffer.
    """
    x = np.array(x, dtype=float)
    n_rows, dim = x.shape
    f, g = fun(x, np.arange(n_rows))
    s_hist = np.zeros((memory, n_rows, dim))
    y_hist = np.zeros((memory, n_rows, dim))
    rho = np.zeros((memory, n_rows))
    gamma = np.ones(n_rows)
    active = np.isfinite(f) & (np.abs(g).max(axis=1) > gtol)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported to the caller)
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        ga = g[idx]
        # Two-loop recursion over the stored pairs, newest first.
        order = [(iteration - 2 - k) % memory for k in range(min(iteration - 1, memory))]
        s_mem, y_mem, rho_mem = s_hist[order][:, idx], y_hist[order][:, idx], rho[order][:, idx]
        q = -ga
        alphas = np.zeros((len(order), idx.size))
        for k in range(len(order)):
            alphas[k] = rho_mem[k] * (s_mem[k] * q).sum(axis=1)
            q -= alphas[k, :, None] * y_mem[k]
        q *= gamma[idx, None]
        for k in reversed(range(len(order))):
            beta = rho_mem[k] * (y_mem[k] * q).sum(axis=1)
            q += (alphas[k] - beta)[:, None] * s_mem[k]
        direction = q
        slope = np.einsum("ij,ij->i", direction, ga)
        bad = ~(slope < 0) | ~np.isfinite(slope)
        if bad.any():  # not a descent direction: forget the history, take steepest descent
            direction[bad] = -ga[bad]
            slope[bad] = -np.einsum("ij,ij->i", ga[bad], ga[bad])
            rho[:, idx[bad]] = 0.0
            gamma[idx[bad]] = 1.0
        # Without a curvature pair (at the start, or where the Huber loss is linear and the
        # gradient constant) the scale of a step is unknown: normalise it, as scipy does at first.
        no_pair = ~(rho[:, idx] > 0).any(axis=0)
        step = np.where(no_pair, 1.0 / np.maximum(np.abs(direction).sum(axis=1), 1e-300), 1.0)
        # Cap the move: in the Huber loss's linear region curvature vanishes and the quasi-Newton
        # step explodes; parameters are logs and exponents, so a few units is a long way.
        step = np.minimum(step, max_move / np.maximum(np.abs(direction).max(axis=1), 1e-300))
        # Armijo backtracking, each row with its own step.
        x_new = x[idx].copy()
        f_new = np.full(idx.size, np.inf)
        g_new = np.zeros_like(ga)
        pending = np.arange(idx.size)
        for _ in range(max_backtracks):
            trial = x[idx[pending]] + step[pending, None] * direction[pending]
            ft, gt = fun(trial, idx[pending])
            ok = np.isfinite(ft) & (ft <= f[idx[pending]] + c1 * step[pending] * slope[pending])
            accepted = pending[ok]
            x_new[accepted] = trial[ok]
            f_new[accepted] = ft[ok]
            g_new[accepted] = gt[ok]
            pending, ft, trial_step = pending[~ok], ft[~ok], step[pending[~ok]]
            if pending.size == 0:
                break
            # Minimiser of the quadratic through f(0), f'(0) and f(step), kept in [0.1, 0.5] step.
            curv = ft - f[idx[pending]] - slope[pending] * trial_step
            curv = np.where(np.isfinite(curv), curv, np.inf)
            quad = -slope[pending] * trial_step**2 / (2.0 * np.maximum(curv, 1e-300))
            step[pending] = np.clip(quad, 0.1 * trial_step, 0.5 * trial_step)
        failed = np.zeros(idx.size, dtype=bool)
        failed[pending] = True
        moved = ~failed
        slot = (iteration - 1) % memory
        s_vec = x_new - x[idx]
        y_vec = g_new - ga
        sy = np.einsum("ij,ij->i", s_vec, y_vec)
        yy = np.einsum("ij,ij->i", y_vec, y_vec)
        good = moved & (yy > 0) & (sy > 1e-12 * yy)
        s_hist[slot, idx] = np.where(good[:, None], s_vec, 0.0)
        y_hist[slot, idx] = np.where(good[:, None], y_vec, 0.0)
        rho[slot, idx] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        gamma[idx[good]] = sy[good] / yy[good]
        decrease = f[idx] - f_new
        done = failed.copy()
        done[moved] |= np.abs(g_new[moved]).max(axis=1) <= gtol
        done[moved] |= decrease[moved] <= ftol * np.maximum(np.abs(f[idx[moved]]), 1e-300)
        x[idx[moved]] = x_new[moved]
        f[idx[moved]] = f_new[moved]
        g[idx[moved]] = g_new[moved]
        active[idx[done]] = False
    return x, f, iteration
