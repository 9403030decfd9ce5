"""CPU and wall time per call, for benchmark scripts on both sides of a comparison.

Standard library only: benchmarks/tracr_worker.py imports it inside Tracr's own venv."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(fn: Callable[[], object], min_cpu: float) -> dict[str, float]:
    """CPU and wall seconds per call of fn(), after one warm-up call (which also compiles),
    repeated until `min_cpu` CPU seconds are spent."""
    fn()
    reps, cpu, wall = 0, 0.0, 0.0
    while reps < 1 or cpu < min_cpu:
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        reps += 1
    return {"cpu": cpu / reps, "wall": wall / reps, "reps": reps}
