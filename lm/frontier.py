"""The second estimator: the least training that reaches 99% exact match, with intervals.

A RASP program has a known floor (loss 0) and a learning transition: exact match stays near 0
and then jumps. A power law in loss describes that poorly; the question a reader can check is
"how many parameters and tokens does it take to get the program right?". For each model size
`N` the runs (seeds pooled) give an exact-match curve over the token budgets `D`; the `D`
it needs is where that curve crosses the target (interpolated in `log D` between the grid
points that straddle it). Its interval comes from grid points and Wilson binomial bounds,
with no assumption about the curve's shape between them: it lies above the last budget whose
upper bound is still below the target, and at or below the first budget whose lower bound
reaches it. The frontier is the least compute `6 N D` over the sizes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

TARGET = 0.99
Z90 = 1.6448536269514722  # two-sided 90% normal quantile


def wilson(k: int, n: int, z: float = Z90) -> tuple[float, float]:
    """Wilson score interval for `k` successes in `n` trials (90% by default)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Point:
    """Runs of one size and token budget, seeds pooled."""

    N: float
    D: float
    correct: int
    total: int
    seeds: int
    params: float = 0.0  # with embeddings
    size: str = ""  # layers x d_model x heads

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.total)


def size_key(row: dict[str, Any]) -> str:
    """A run's model shape: the grid's size, whatever vocabulary its seed's data gave it."""
    m = row.get("config", {}).get("model")
    if m is None:
        return str(row["params_non_embedding"])
    return f"{m['n_layers']}x{m['d_model']}x{m['n_heads']}"


def pool(rows: Iterable[dict[str, Any]]) -> list[Point]:
    """Pool seeds: the test inputs of every seed of a grid point, counted together.

    Seeds of one size may differ by a few parameters (their data can hold different output
    values, so the unembedding differs): a size's `N` is the mean over its runs."""
    rows = list(rows)
    by_size: dict[str, list[dict[str, Any]]] = defaultdict(list)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        budget = r["config"]["tokens"] if "config" in r else r["tokens"]
        by_size[size_key(r)].append(r)
        groups[size_key(r), int(budget)].append(r)
    mean_n = {k: sum(r["params_non_embedding"] for r in rs) / len(rs) for k, rs in by_size.items()}
    mean_p = {k: sum(r.get("params", 0) for r in rs) / len(rs) for k, rs in by_size.items()}
    points = []
    for (size, _), rs in groups.items():
        total = sum(int(r["test_examples"]) for r in rs)
        correct = sum(round(r["exact_match"] * r["test_examples"]) for r in rs)
        D = sum(r["tokens"] for r in rs) / len(rs)  # tokens processed (the budget, or a step more)
        points.append(Point(mean_n[size], D, correct, total, len(rs), mean_p[size], size))
    return sorted(points, key=lambda p: (p.N, p.D))


def crossing(ds: list[float], values: list[float], target: float = TARGET) -> float | None:
    """The least `D` at which `values` (over increasing `ds`) reaches `target`,
    interpolated linearly in `log D`; `ds[0]` when the first point already reaches it,
    `None` when no point does."""
    for i, v in enumerate(values):
        if v >= target:
            if i == 0:
                return ds[0]
            v0 = values[i - 1]
            t = (target - v0) / (v - v0)
            return math.exp(math.log(ds[i - 1]) + t * (math.log(ds[i]) - math.log(ds[i - 1])))
    return None


@dataclass
class Need:
    """The tokens (and compute) one model size needs to reach the target, with bounds.
    `None` as a bound: beyond the grid (`hi`) or at or below its first budget (`lo`)."""

    N: float
    D: float | None
    D_lo: float | None
    D_hi: float | None
    first_budget: float
    could: bool  # the Wilson upper bound reaches the target somewhere in the grid

    def compute(self, D: float | None) -> float | None:
        return None if D is None else 6.0 * self.N * D


def _first(values: list[float], target: float) -> int | None:
    return next((i for i, v in enumerate(values) if v >= target), None)


def needs(points: list[Point], target: float = TARGET) -> list[Need]:
    """For each size, the `D` at which exact match crosses `target` and its bounds."""
    by_n: dict[float, list[Point]] = defaultdict(list)
    for p in points:
        by_n[p.N].append(p)
    out = []
    for N, ps in sorted(by_n.items()):
        ps.sort(key=lambda p: p.D)
        ds = [p.D for p in ps]
        point = crossing(ds, [p.rate for p in ps], target)
        early = _first([p.interval[1] for p in ps], target)
        late = _first([p.interval[0] for p in ps], target)
        if early is None:  # not even the upper bound reaches: beyond the grid
            lo = ds[-1]
        else:
            lo = ds[early - 1] if early > 0 else None
        hi = ds[late] if late is not None else None
        out.append(Need(N, point, lo, hi, ds[0], early is not None))
    return out


@dataclass
class Frontier:
    """What the exact-match runs say: the smallest size that learns the program, the least
    compute that does, each with bounds (`None`: none reached / beyond the grid)."""

    target: float
    smallest_N: float | None  # the smallest size whose pooled runs reach the target
    smallest_N_lo: float | None  # the smallest size that could (Wilson upper bound reaches)
    smallest_N_hi: float | None  # the smallest size that surely does (lower bound reaches)
    smallest_D: float | None
    smallest_D_lo: float | None
    smallest_D_hi: float | None
    C_min: float | None  # least 6ND over sizes reaching the target
    C_min_lo: float | None
    C_min_hi: float | None
    C_min_N: float | None
    C_min_D: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def frontier(points: list[Point], target: float = TARGET) -> Frontier:
    ns = needs(points, target)
    reach = [n for n in ns if n.D is not None]
    could = [n for n in ns if n.could]
    sure = [n for n in ns if n.D_hi is not None]
    small = reach[0] if reach else None
    best = min(reach, key=lambda n: n.N * n.D) if reach else None
    c_lo = [6 * n.N * (n.D_lo if n.D_lo is not None else 0.0) for n in could]  # 0: <= grid
    c_hi = [6 * n.N * n.D_hi for n in sure]
    return Frontier(
        target,
        small.N if small else None,
        could[0].N if could else None,
        sure[0].N if sure else None,
        small.D if small else None,
        small.D_lo if small else None,
        small.D_hi if small else None,
        6 * best.N * best.D if best else None,
        (min(c_lo) or None) if c_lo else None,
        min(c_hi) if c_hi else None,
        best.N if best else None,
        best.D if best else None,
    )
