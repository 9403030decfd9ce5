"""Attention on columns: `select` (a boolean [batch, query, key] pattern) and `aggregate`
(the mean of the selected values, summed exactly as the original sums them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rasp.columns import BOOL, FLOAT, INT, STR, Column, compact, type_class
from rasp.errors import RaspEvalError

_ORDER_OPS = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def select(keys: Column, queries: Column, op: str) -> np.ndarray:
    """`sel[b, q, k] = keys[b, k] OP queries[b, q]`.

    When all values are mutually ordered (numbers, or strings) the comparison runs on their
    ranks in numpy; otherwise through a table of the predicate over distinct value pairs.
    """
    ranks = _shared_ranks(keys.values, queries.values)
    if ranks is not None:
        k_rank, q_rank = ranks
        return _ORDER_OPS[op](k_rank[keys.codes][:, None, :], q_rank[queries.codes][:, :, None])
    pred = _AS_ORIGINAL[op]
    try:
        table = np.array(
            [[bool(pred(kv, qv)) for qv in queries.values] for kv in keys.values], dtype=bool
        ).reshape(len(keys.values), len(queries.values))
    except TypeError:
        try:
            table = _sparse_table(keys, queries, pred)
        except TypeError:
            _first_failing_pair(keys, queries, pred)
            raise
    flat = keys.codes[:, None, :] * len(queries.values) + queries.codes[:, :, None]
    return table.ravel()[flat]


# `key OP query` as the original computes it: from the query's side (`<` is `q > k`), so that a
# comparison Python refuses fails with the original's message.
_AS_ORIGINAL: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda k, q: q == k,
    "!=": lambda k, q: not (q == k),
    "<": lambda k, q: q > k,
    ">": lambda k, q: q < k,
    "<=": lambda k, q: q >= k,
    ">=": lambda k, q: q <= k,
}


def _first_failing_pair(keys: Column, queries: Column, pred) -> None:
    """Raise the error of the first (input, query, key) in reading order that fails."""
    for b in range(keys.codes.shape[0]):
        for q in queries.codes[b]:
            for k in keys.codes[b]:
                pred(keys.values[k], queries.values[q])


def _shared_ranks(a: list[Any], b: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Ranks of two value lists in their merged order (equal values share a rank), or None
    when Python cannot order them all (e.g. strings with numbers)."""
    kinds = {type_class(v) for v in a} | {type_class(v) for v in b}
    if not (kinds == {STR} or kinds <= {BOOL, INT, FLOAT}):
        return None
    order = {v: i for i, v in enumerate(sorted(set(a) | set(b)))}
    return (
        np.array([order[v] for v in a], dtype=np.int32),
        np.array([order[v] for v in b], dtype=np.int32),
    )


def _sparse_table(keys: Column, queries: Column, pred) -> np.ndarray:
    """The predicate only on (key, query) pairs that meet in the same input (raises if bad)."""
    nq = len(queries.values)
    pairs = (keys.codes[:, None, :] * nq + queries.codes[:, :, None]).ravel()
    table = np.zeros((len(keys.values), nq), dtype=bool)
    for p in np.flatnonzero(np.bincount(pairs, minlength=len(keys.values) * nq)):
        k, q = divmod(int(p), nq)
        table[k, q] = bool(pred(keys.values[k], queries.values[q]))
    return table


def aggregate(sel: np.ndarray, col: Column, default: Any) -> Column:
    """Mean over selected keys; one selected key passes its value through; none gives default.

    The mean is the original's `sum(selected) * 1.0 / n`, bit for bit. One batched matmul gives
    every query's count of keys and, when every partial sum is exact whatever the order (ints,
    halves, ... below 2**53), its sum too; otherwise the selected values are added one key at a
    time in float64, left to right as Python's `sum` does. Ints too large for a float take
    Python's own sum (and its OverflowError)."""
    limit = 2**53 // max(1, col.codes.shape[1])
    nums = np.zeros(len(col.values))
    huge = False
    for i, v in enumerate(col.values):
        if type(v) in (int, bool, float):
            if type(v) is not float and abs(v) >= limit:
                huge = True
            else:
                nums[i] = v
    exact = not huge and _sums_exact(nums, limit)
    x = nums[col.codes]  # [B, k]
    rhs = np.stack([x if exact else np.zeros_like(x), np.ones(x.shape)], axis=-1)
    sums_counts = np.matmul(sel.astype(np.float64), rhs)  # [B, q, 2]
    counts = sums_counts[..., 1].astype(np.int64)
    single_codes = np.take_along_axis(col.codes, sel.argmax(axis=-1), axis=-1)
    codes = np.where(counts == 1, single_codes, len(col.values))  # else: default's code
    values = [*col.values, default]
    multi = counts >= 2
    if multi.any():
        # The original averages only numbers: not strings, and not a sequence of bools only.
        per_pos = col.classes()[col.codes]
        numbers = np.isin(per_pos, (BOOL, INT, FLOAT)).all(axis=-1) & ~(per_pos == BOOL).all(
            axis=-1
        )
        bad = multi.any(axis=-1) & ~numbers
        if bad.any():
            b = int(np.argmax(bad))
            vals = [col.values[c] for c in col.codes[b]]
            raise RaspEvalError(
                f"asked to average multiple values, but they are non-numbers: {vals}"
            )
        if huge:
            means = _python_means(sel, col, multi)
        elif exact:
            means = sums_counts[..., 0][multi] / counts[multi]
        else:
            means = _sequential_means(sel, x, multi, counts)
        uniq, inverse = np.unique(means, return_inverse=True)
        codes[multi] = len(values) + inverse
        values += uniq.tolist()
    return compact(Column(codes, values))


def _sequential_means(
    sel: np.ndarray, x: np.ndarray, multi: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Python's left-to-right float sum over the selected keys, at the `multi` positions: one
    key at a time, for all queries of all inputs at once."""
    rows = np.flatnonzero(multi.any(axis=-1))
    by_key = np.ascontiguousarray(sel[rows].transpose(2, 0, 1))  # [k, R, q]
    xs = np.ascontiguousarray(x[rows].T)[:, :, None]  # [k, R, 1]
    finite = bool(np.isfinite(xs).all())  # then 0 * x is 0 and a product can mask
    total = np.zeros(by_key.shape[1:])  # Python's sum starts from 0: a sum of -0.0s is 0.0
    with np.errstate(invalid="ignore", over="ignore"):  # nan and inf as in Python
        for k in range(by_key.shape[0]):
            total += by_key[k] * xs[k] if finite else np.where(by_key[k], xs[k], 0.0)
    return total[multi[rows]] / counts[rows][multi[rows]]


def _sums_exact(nums: np.ndarray, limit: int) -> bool:
    """Whether every sum of up to k of these values is exact in float64: all are multiples of
    one power of two 2**-e (e <= 16) with scaled magnitudes below `limit` (= 2**53 / k)."""
    if not np.isfinite(nums).all() or (np.signbit(nums) & (nums == 0)).any():
        return False  # inf and nan propagate by order; -0.0 sums to 0.0 from Python's start
    for e in (0, 1, 2, 4, 8, 16):
        with np.errstate(over="ignore"):  # a value near float's max scales to inf: not exact
            scaled = nums * float(2**e)
        if (scaled == np.round(scaled)).all():
            return bool(np.abs(scaled).max(initial=0.0) < limit)
    return False


def _python_means(sel: np.ndarray, col: Column, multi: np.ndarray) -> np.ndarray:
    out = []
    for b, q in zip(*np.nonzero(multi), strict=True):
        vals = [col.values[c] for c, s in zip(col.codes[b], sel[b, q], strict=True) if s]
        out.append(sum(vals) * 1.0 / len(vals))  # an int beyond float raises OverflowError
    return np.array(out, dtype=np.float64)
