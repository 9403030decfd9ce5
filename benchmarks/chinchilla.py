"""Time the Chinchilla fit with Hoffmann's full grid of 4,500 starts on synthetic runs.

Usage: python benchmarks/chinchilla.py [--runs 300] [--noise 0.005] [--scipy-starts 45]

With `--scipy-starts K` it also times K of the starts fitted one at a time with scipy's
L-BFGS-B, with finite-difference gradients (the usual reproduction) and with the exact
gradient, and extrapolates each to 4,500.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lm import chinchilla
from lm.chinchilla import ChinchillaFit


def _scipy_seconds(starts: np.ndarray, log_n, log_d, log_l, delta: float, exact: bool) -> float:
    """Seconds to fit `starts` one at a time with scipy's L-BFGS-B; `exact`: with the
    analytic gradient of the Huber loss of the log-sum-exp (else finite differences)."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    def objective(p: np.ndarray):
        a, b, e, alpha, beta = p
        terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
        r = logsumexp(terms, axis=0) - log_l
        absr = np.abs(r)
        f = float(np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)).sum())
        if not exact:
            return f
        w = softmax(terms, axis=0) * np.clip(r, -delta, delta)
        grad = np.array(
            [w[0].sum(), w[1].sum(), w[2].sum(), -(w[0] * log_n).sum(), -(w[1] * log_d).sum()]
        )
        return f, grad

    start = time.perf_counter()
    for x0 in starts:
        minimize(objective, x0, method="L-BFGS-B", jac=exact)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scipy-starts", type=int, default=0)
    args = parser.parse_args()
    law = ChinchillaFit(E=1.6934, A=406.4, B=410.7, alpha=0.33917, beta=0.28491)
    rng = np.random.default_rng(args.seed)
    N = np.exp(rng.uniform(np.log(1e4), np.log(1e9), args.runs))
    D = np.exp(rng.uniform(np.log(1e6), np.log(1e11), args.runs))
    loss = law.predict(N, D) * np.exp(rng.normal(0.0, args.noise, args.runs))
    start = time.perf_counter()
    got = chinchilla.fit(N, D, loss)
    seconds = time.perf_counter() - start
    print(
        f"runs={args.runs} starts={got.n_starts} iterations={got.iterations} seconds={seconds:.2f}"
    )
    print(
        f"true E={law.E:.4f} A={law.A:.1f} B={law.B:.1f} alpha={law.alpha:.4f} beta={law.beta:.4f}"
    )
    print(
        f"fit  E={got.E:.4f} A={got.A:.1f} B={got.B:.1f} alpha={got.alpha:.4f} beta={got.beta:.4f}"
    )
    if args.scipy_starts:
        grid = chinchilla.init_grid()
        picked = grid[rng.choice(len(grid), args.scipy_starts, replace=False)]
        logs = (np.log(N), np.log(D), np.log(loss))
        for exact, how in ((False, "finite differences"), (True, "exact gradient")):
            spent = _scipy_seconds(picked, *logs, chinchilla.HUBER_DELTA, exact)
            print(
                f"scipy, one start at a time, {how}: {args.scipy_starts} starts in "
                f"{spent:.1f} s, {spent / args.scipy_starts * len(grid) / 60:.1f} min for all "
                f"{len(grid)}"
            )


if __name__ == "__main__":
    main()
