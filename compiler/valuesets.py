"""Value sets and their arithmetic, for `values`: distinct values by type and value (1, 1.0
and True differ, as in the interpreter), operators applied to every tuple of values (numpy
for large sums), and the values a mean can take. A set larger than `LIMIT` is unknown."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from rasp.columns import BOOL, FLOAT, INT, STR, type_class
from rasp.values import value_key as vkey  # the language's identity of a value

LIMIT = 100_000  # distinct values kept per s-op
MEAN_SUMS_LIMIT = 400_000  # (count, sum) pairs enumerated for a numeric mean
SUMS_LIMIT = 20_000_000  # pairs `sums` adds up with numpy


def sort_key(v: Any) -> tuple:
    c = type_class(v)
    if c in (BOOL, INT, FLOAT):
        return (0, float(v), c)
    if c == STR:
        return (1, 0.0, 0, v)
    return (2, 0.0, 0, repr(v))


_CLASS_OF = {bool: BOOL, int: INT, float: FLOAT}


def numeric_arrays(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(float64 value, type class) of each value, when every value is a bool, an int that
    float64 holds exactly or a float other than NaN (so equality and order of the floats
    are Python's); else None. Lets sets of 100,000 means be handled by numpy."""
    try:
        kinds = map(_CLASS_OF.__getitem__, map(type, values))  # KeyError: another type
        classes = np.fromiter(kinds, np.int8, len(values))
        floats = np.array(values, dtype=np.float64)
    except (KeyError, OverflowError):
        return None
    if floats.shape != (len(values),) or np.isnan(floats).any():
        return None
    if (np.abs(floats[classes == INT]) >= 2.0**53).any():
        return None
    return floats, classes


def distinct(values: Iterable[Any]) -> list[Any]:
    """Distinct values (by type and value), in a canonical order."""
    values = values if isinstance(values, list) else list(values)
    arrays = numeric_arrays(values)
    if arrays is not None:  # the same, by numpy
        floats, classes = arrays
        order = np.lexsort((classes, floats))  # sort_key's order; stable: first seen first
        f, c = floats[order], classes[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (f[1:] != f[:-1]) | (c[1:] != c[:-1])
        if np.count_nonzero(new) > LIMIT:
            raise TooMany
        return [values[i] for i in order[new].tolist()]
    seen: dict[tuple[type, Any], Any] = {}
    for v in values:
        seen.setdefault(vkey(v), v)
        if len(seen) > LIMIT:
            raise TooMany
    return sorted(seen.values(), key=sort_key)


class TooMany(Exception):
    pass


def is_number(v: Any) -> bool:
    """int or float (not bool): the values a mean may average."""
    return type_class(v) in (INT, FLOAT)


def is_numeric_like(v: Any) -> bool:
    """int, float or bool: values that fit one numeric residual dimension."""
    return type_class(v) in (INT, FLOAT, BOOL)


def apply_all(fn: Callable[..., Any], sets: Sequence[Sequence[Any] | None]) -> list[Any] | None:
    """fn over the product of value sets, skipping inputs on which fn raises (a program that
    raises on an input has no output there to match); None when too many (or a set is)."""
    known = [s for s in sets if s is not None]
    if len(known) < len(sets) or math.prod(len(s) for s in known) > 4 * LIMIT:
        return None
    out = []
    for args in itertools.product(*known):
        try:
            out.append(fn(*args))
        except Exception:  # noqa: BLE001 - Python's errors are the program's errors
            continue
    try:
        return distinct(out)
    except TooMany:
        return None


def sums(xs: list[Any] | None, ys: list[Any] | None, minus: bool) -> list[Any] | None:
    """x + y (or x - y) over two sets of numbers too large for `apply_all`, with numpy (the
    same IEEE arithmetic as Python's): int with int gives ints, anything with a float floats;
    None when a set is unknown, holds other values, or the result is too large."""
    if xs is None or ys is None or len(xs) * len(ys) > SUMS_LIMIT:
        return None
    if not all(is_number(v) for v in [*xs, *ys]):
        return None
    out: list[Any] = []
    for want_int in (True, False):
        xi = [v for v in xs if isinstance(v, int) == want_int or not want_int]
        yi = [v for v in ys if isinstance(v, int) == want_int or not want_int]
        if not xi or not yi:
            continue
        dtype = np.int64 if want_int else np.float64
        x, y = np.array(xi, dtype=dtype), np.array(yi, dtype=dtype)
        grid = np.subtract.outer(x, y) if minus else np.add.outer(x, y)
        if not want_int:  # pairs of two ints were counted above
            both = (
                np.add.outer(
                    np.array([isinstance(v, int) for v in xi], dtype=np.int8),
                    np.array([isinstance(v, int) for v in yi], dtype=np.int8),
                )
                == 2
            )
            grid = grid[~both]
        got = np.unique(grid)
        if len(out) + len(got) > LIMIT:
            return None
        out.extend(int(v) if want_int else float(v) for v in got)
    return sorted(out, key=sort_key)


@dataclass
class SelectorInfo:
    max_one: bool  # no query ever selects two or more keys
    nonempty: bool  # every query selects at least one key


def aggregate_values(
    xs: list[Any] | None, info: SelectorInfo, default: Any, n: int, one_value: bool = False
) -> list[Any] | None:
    """One selected key: its value; none: the default; two or more: a float mean (numbers
    only: averaging anything else is an error in the program, so it has no value to match),
    which is one of the values as a float when the selected keys all hold one value."""
    if xs is None:
        return None
    out = list(xs)
    if not info.nonempty:
        out.append(default)
    if not info.max_one and xs and all(is_number(v) for v in xs):
        if one_value:
            return distinct([*out, *(float(v) for v in xs)])
        means = mean_values(xs, n)
        if means is None:
            return None
        out.extend(means)
    try:
        return distinct(out)
    except TooMany:
        return None


def mean_values(xs: list[Any], n: int) -> list[float] | None:
    """Every mean of 2..n values drawn from xs (a superset for integer-valued xs)."""
    nums = np.array([float(v) for v in xs])
    if np.all(nums == np.round(nums)) and np.abs(nums).max() < 2**40:
        ints = nums.astype(np.int64)
        lo, hi = int(ints.min()), int(ints.max())
        g = int(np.gcd.reduce(ints - lo)) if hi > lo else 1
        span = (hi - lo) // g
        if span * n * n // 2 > MEAN_SUMS_LIMIT:
            return None
        parts = []
        for k in range(2, n + 1):
            sums = k * lo + g * np.arange(k * span + 1, dtype=np.int64)
            parts.append(sums.astype(np.float64) / k)
        return [float(m) for m in np.unique(np.concatenate(parts))] if parts else []
    if len(xs) == 2 and 0.0 in nums:  # {0, c}
        c = float(nums[nums != 0][0])
        parts = [np.arange(k + 1) * c / k for k in range(2, n + 1)]
        return [float(m) for m in np.unique(np.concatenate(parts))] if parts else []
    return None


@dataclass(frozen=True)
class MeanGrid:
    """The values of a mean of integers over up to n keys, too many to list (about
    n^2 span / 3), described instead: every mean of k >= 1 keys holding lo + step * i_j
    (0 <= i_j <= span) is lo + step * J / k with J = sum(i_j) an integer in 0..k * span, so
    the means lie in G = {lo + step * J / k : 1 <= k <= n, 0 <= J <= k * span}; an empty
    selection gives one of `extras` (the default). G holds values no input reaches, which
    only brings the points `near` returns closer to c: safe for a comparison with c."""

    lo: int
    step: int
    span: int
    n: int
    extras: tuple[float, ...]

    @classmethod
    def of(cls, xs: list[Any] | None, info: SelectorInfo, default: Any, n: int) -> MeanGrid | None:
        """The grid of means of `xs` (ints only) over `info`'s selections; None otherwise."""
        if not xs or info.max_one or not all(type(v) is int for v in xs):
            return None
        if not info.nonempty and not is_number(default):
            return None
        lo, hi = min(xs), max(xs)
        step = math.gcd(*(v - lo for v in xs)) or 1
        extras = () if info.nonempty else (float(default),)
        return cls(lo, step, (hi - lo) // step, n, extras)

    def near(self, c: float) -> list[float] | None:
        """The points where `m OP c` can change, for any comparison OP: c, the largest value
        of G below c, the smallest above, G's extremes and the extras (as floats, which is
        what the interpreter computes: J / k rounded once). Between two neighbours no value
        of G lies on both sides of c, so `m OP c` is constant there. None when rounding to
        floats would put a neighbour onto c."""
        target = Fraction(c)
        below: Fraction | None = None
        above: Fraction | None = None
        hit = False
        for k in range(1, self.n + 1):
            t = (target - self.lo) * k / self.step  # J at c, for this k
            # the largest J below c, J at c (if an integer), the smallest J above c
            for j in {math.ceil(t) - 1, math.floor(t), math.ceil(t), math.floor(t) + 1}:
                if not 0 <= j <= k * self.span:
                    continue
                v = self.lo + Fraction(self.step * j, k)
                if v == target:
                    hit = True
                elif v < target and (below is None or v > below):
                    below = v
                elif v > target and (above is None or v < above):
                    above = v
        if below is not None and float(below) >= c or above is not None and float(above) <= c:
            return None
        pts = {float(self.lo), float(self.lo + self.step * self.span), *self.extras}
        pts |= {float(v) for v in (below, above) if v is not None}
        if hit:
            pts.add(float(c))
        return sorted(pts)
