"""Time the Chinchilla fit with Hoffmann's full grid of 4,500 starts on synthetic runs.

Usage: python benchmarks/chinchilla.py [--runs 300] [--noise 0.005]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lm import chinchilla
from lm.chinchilla import ChinchillaFit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--noise", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
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


if __name__ == "__main__":
    main()
