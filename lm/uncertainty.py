"""Bootstrap intervals for the Chinchilla fit: `E, A, B, alpha, beta` and `N_opt, D_opt`.

The runs are resampled with replacement (a case bootstrap: each replicate weighs run `i` by
how often it was drawn) and the law refitted to each replicate. All replicates are fitted at
once, as rows of one batched L-BFGS, each from the full fit's optimum and a small grid of
other starts (the full grid of 4,500 per replicate would cost minutes, and the optimum of a
resample lies near the original's). The intervals are the percentiles of the replicates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from lm import chinchilla
from lm.chinchilla import ChinchillaFit

#: Extra starts per replicate besides the full fit's optimum (2^5 = 32 corners).
_REPLICATE_GRID = {
    "a": (2.0, 12.0),
    "b": (2.0, 12.0),
    "e": (-1.0, 0.5),
    "alpha": (0.3, 1.5),
    "beta": (0.3, 1.5),
}
LEVEL = 0.90


@dataclass
class Interval:
    lo: float
    hi: float

    def as_list(self) -> list[float]:
        return [self.lo, self.hi]


@dataclass
class Bootstrap:
    """Refitted constants of `n` replicates, `theta` `[n, 5]` as `(a, b, e, alpha,
    beta)`, and the fits they give."""

    fit: ChinchillaFit
    theta: np.ndarray
    level: float = LEVEL

    @property
    def fits(self) -> list[ChinchillaFit]:
        return [
            chinchilla.ChinchillaFit(
                E=0.0 if self.fit.fixed_E else float(np.exp(e)),
                A=float(np.exp(a)),
                B=float(np.exp(b)),
                alpha=float(al),
                beta=float(be),
                fixed_E=self.fit.fixed_E,
            )
            for a, b, e, al, be in self.theta
        ]

    def _interval(self, values: np.ndarray) -> Interval:
        tail = (1 - self.level) / 2 * 100
        lo, hi = np.nanpercentile(values, [tail, 100 - tail])
        return Interval(float(lo), float(hi))

    def constants(self) -> dict[str, Interval]:
        a, b, e, alpha, beta = self.theta.T
        out = {
            "A": self._interval(np.exp(a)),
            "B": self._interval(np.exp(b)),
            "alpha": self._interval(alpha),
            "beta": self._interval(beta),
        }
        out["E"] = Interval(0.0, 0.0) if self.fit.fixed_E else self._interval(np.exp(e))
        return out

    def optimal(self, budget: float) -> tuple[Interval, Interval]:
        """Intervals of `N_opt` and `D_opt` at compute `budget`."""
        opts = np.array([f.optimal(budget) for f in self.fits])
        return self._interval(opts[:, 0]), self._interval(opts[:, 1])


def bootstrap(
    N, D, loss, fit: ChinchillaFit, *, n_boot: int = 200, seed: int = 0, max_iter: int = 300
) -> Bootstrap:
    """Refit `fit` (free or with `E = 0`, as it was fitted) to `n_boot` resamples."""
    N, D, loss = chinchilla.check_runs(N, D, loss)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(N.size, np.full(N.size, 1.0 / N.size), size=n_boot).astype(float)
    grid = np.array(
        list(itertools.product(*(_REPLICATE_GRID[k] for k in "a b e alpha beta".split())))
    )
    starts_one = np.vstack([fit.theta[None, :], grid])
    starts = np.tile(starts_one, (n_boot, 1))
    weights = np.repeat(counts, len(starts_one), axis=0)
    x, f, _ = chinchilla.minimise(
        N, D, loss, starts, chinchilla.HUBER_DELTA, max_iter, fit.fixed_E, weights
    )
    f = f.reshape(n_boot, len(starts_one))
    best = np.argmin(f, axis=1)
    theta = x.reshape(n_boot, len(starts_one), 5)[np.arange(n_boot), best]
    return Bootstrap(fit, theta)
