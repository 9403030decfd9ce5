"""CPU and wall time per call, for benchmark scripts on both sides of a comparison.

Standard library only: benchmarks/tracr_worker.py imports it inside Tracr's own venv."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], min_cpu: float, rounds: int = 5) -> dict[str, float]:
    """`timed_together` for one function."""
    return timed_together({"fn": fn}, min_cpu, rounds)["fn"]


def timed_together(
    fns: dict[str, Callable[[], object]], min_cpu: float, rounds: int = 5
) -> dict[str, dict[str, float]]:
    """CPU and wall seconds per call of each fn, after one warm-up call each (which also
    compiles): in each of `rounds` rounds every fn runs in turn until it has spent
    min_cpu / rounds CPU seconds; its figure is the median over the rounds of the mean per
    call. On a shared machine a slow spell (another job, a vCPU the host took away, which
    still counts as CPU time) then lands on one round of every fn, not on one side of a ratio
    (measured one fn at a time, e2e/bare ratios of the same code moved by 1.5x)."""
    for fn in fns.values():
        fn()
    per: dict[str, list[tuple[float, float, int]]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            reps, cpu, wall = 0, 0.0, 0.0
            while reps < 1 or cpu < min_cpu / rounds:
                c0, w0 = time.process_time(), time.perf_counter()
                fn()
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
                reps += 1
            per[name].append((cpu / reps, wall / reps, reps))
    return {
        name: {
            "cpu": statistics.median(c for c, _, _ in runs),
            "wall": statistics.median(w for _, w, _ in runs),
            "reps": sum(r for _, _, r in runs),
        }
        for name, runs in per.items()
    }
