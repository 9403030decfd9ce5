"""Elementwise expressions evaluated on tables of inputs, the way the interpreter does it.

A value on a batch of rows is an integer code per row into a small table of distinct Python
values; an operation applies the real Python operator once per distinct (tuple of) codes, so
a tree of n nodes over r rows costs about n numpy passes over r, not n * r Python calls.
A row on which any subexpression raises has no value there (`MISSING`): the program raises
on such an input, so there is nothing to match.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.values import is_number, vkey
from compiler.valuesets import numeric_arrays
from rasp import ir

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


@dataclass
class Column:
    """A value per row: `table[codes[r]]` (MISSING where it raised)."""

    codes: np.ndarray
    table: list[Any]

    def values(self) -> list[Any]:
        return [self.table[c] for c in self.codes]


def _dedupe(raw: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes into the distinct values of `raw` (by type and value)."""
    index: dict[Any, int] = {}
    table: list[Any] = []
    codes = np.empty(len(raw), dtype=np.int64)
    for i, v in enumerate(raw):
        k = ("missing",) if v is MISSING else vkey(v)
        c = index.get(k)
        if c is None:
            c = index[k] = len(table)
            table.append(v)
        codes[i] = c
    return codes, table


def column(raw: Sequence[Any]) -> Column:
    codes, table = _dedupe(list(raw))
    return Column(codes, table)


def apply(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    if any(a is MISSING for a in args):
        return MISSING
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - a program that raises has no output to match there
        return MISSING


def tabulate(
    node: ir.IRNode,
    rows: int,
    done: dict[Any, Column],
    token: Sequence[Any] | None = None,
    index: Sequence[Any] | None = None,
    key: Callable[[ir.IRNode], Any] = lambda n: n.id,
) -> Column:
    """The value of an elementwise expression on each row, given the columns of its leaves
    (and the token, or the position, of each row when the expression reads them). `done`
    maps `key(node)` to columns: it holds the leaves, and gets every node computed."""

    def kids(n: ir.IRNode) -> tuple[ir.IRNode, ...]:
        return () if key(n) in done else n.children()

    for n in ir.walk([node], kids):
        if key(n) in done:
            continue
        match n:
            case ir.Full(value=v):
                out = Column(np.zeros(rows, dtype=np.int64), [v])
            case ir.Tokens(conversion=c) if token is not None:
                conv = ir.TOKEN_CONVERSIONS[c]
                out = column([apply(conv, (t,)) for t in token])
            case ir.Indices() if index is not None:
                out = column(list(index))
            case ir.Map(child=child) if (got := _compared(n, done[key(child)])) is not None:
                out = got
            case ir.Map() | ir.SequenceMap():
                fn = n.fn()
                ins = [done[key(c)] for c in n.children()]
                uniq, inv = _combos([c.codes for c in ins], [len(c.table) for c in ins])
                raw = [apply(fn, [c.table[k] for c, k in zip(ins, u, strict=True)]) for u in uniq]
                codes, table = _dedupe(raw)
                out = Column(codes[inv], table)
            case _:
                raise KeyError(f"{n.label} is not elementwise over the given leaves")
        done[key(n)] = out
    return done[key(node)]


def _compared(node: ir.Map, col: Column) -> Column | None:
    """`x OP c` on a column, all values at once (as the Map case computes it: over the
    values that occur, in order), when OP compares and every value and c is a number numpy
    compares as Python does (see `numeric_arrays`); else None."""
    if node.op not in ir.COMPARISONS or node.const_side is None:
        return None
    uniq, inv = np.unique(col.codes, return_inverse=True)
    arrays = numeric_arrays([*(col.table[u] for u in uniq.tolist()), node.const])
    if arrays is None:
        return None
    xs, c = arrays[0][:-1], arrays[0][-1]
    fn = ir.COMPARISONS[node.op]
    got = fn(xs, c) if node.const_side == "right" else fn(c, xs)
    codes, table = _dedupe(np.asarray(got, dtype=bool).tolist())
    return Column(codes[np.ravel(inv)], table)


def _combos(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct tuples of codes (rows of [combos, inputs]) and each row's combo."""
    if math.prod(sizes) < 2**62:  # one integer per tuple: a 1-d unique, much faster
        flat = np.ravel_multi_index(tuple(codes), sizes)
        uniq, inv = np.unique(flat, return_inverse=True)
        return np.stack(np.unravel_index(uniq, sizes), axis=1), np.ravel(inv)
    uniq, inv = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    return uniq, np.ravel(inv)


def product_rows(sizes: Sequence[int]) -> np.ndarray:
    """[rows, inputs]: every tuple of indices, the last input varying fastest."""
    idx = np.zeros((math.prod(sizes), len(sizes)), dtype=np.int64)
    wide = [i for i, s in enumerate(sizes) if s > 1]  # inputs of one value stay 0
    step = len(idx)
    for i in wide:  # mixed radix: input i repeats each value `step` times, then cycles
        step //= sizes[i]
        idx[:, i] = (np.arange(len(idx)) // step) % sizes[i]
    return idx


def tree_outputs(
    node: ir.IRNode,
    leaves: list[ir.IRNode],
    groups: list[list[list[Any]]],
    key: Callable[[ir.IRNode], Any],
    done: dict[Any, Column] | None = None,
) -> list[Any]:
    """The tree's output at every point of the product of its leaves' groups (a group: the
    values one input point stands for, equal as numbers); see `agree`. `done`: columns of
    nodes over these same leaves computed before (filled in)."""
    flat = [[v for g in gs for v in g] for gs in groups]
    group_of = [np.array([i for i, g in enumerate(gs) for _ in g]) for gs in groups]
    idx = product_rows([len(f) for f in flat])
    done = {} if done is None else done
    for j, (x, f) in enumerate(zip(leaves, flat, strict=True)):
        done[key(x)] = Column(idx[:, j], f)
    out = tabulate(node, len(idx), done, key=key)
    if all(len(f) == len(gs) for f, gs in zip(flat, groups, strict=True)):
        return out.values()
    sizes = [len(gs) for gs in groups]
    point = np.ravel_multi_index(tuple(g[idx[:, j]] for j, g in enumerate(group_of)), sizes)
    agreed = _agreed(point, out, math.prod(sizes))
    if agreed is not None:
        return agreed
    per_point: list[list[Any]] = [[] for _ in range(int(np.prod(sizes)))]
    for p, c in zip(point, out.codes, strict=True):
        per_point[p].append(out.table[c])
    return [
        agree(vs, [g[i] for g, i in zip(groups, t, strict=True)])
        for vs, t in zip(per_point, itertools.product(*(range(s) for s in sizes)), strict=True)
    ]


def _agreed(point: np.ndarray, out: Column, count: int) -> list[Any] | None:
    """`agree` at every point by numpy, when the table's values are plain (bool, int, float
    but NaN, str: two codes are then two results `agree` refuses) and every point's defined
    rows share one code; else None (the loop then finds, and raises, the first refusal)."""
    plain = (bool, int, float, str)
    if not all(v is MISSING or type(v) in plain and v == v for v in out.table):
        return None
    defined = np.array([v is not MISSING for v in out.table], dtype=bool)[out.codes]
    pts, codes = point[defined], out.codes[defined]
    lo = np.full(count, len(out.table))
    hi = np.full(count, -1)
    np.minimum.at(lo, pts, codes)
    np.maximum.at(hi, pts, codes)
    if ((hi >= 0) & (lo != hi)).any():
        return None
    return [out.table[c] if c >= 0 else MISSING for c in hi.tolist()]


class Ambiguous(Exception):
    """Equal numbers of different types (1, 1.0, True) give different results."""


def agree(outs: list[Any], choices: Any) -> Any:
    """The one result of several inputs the model cannot tell apart (MISSING if none):
    equal in value and in type (1 and 1.0 are two results)."""
    defined = [v for v in outs if v is not MISSING]
    if not defined:
        return MISSING
    first = defined[0]
    for v in defined[1:]:
        if type(v) is not type(first) or not (v == first):
            raise Ambiguous(choices)
    return first


def affine_of(node: ir.Map, vals: list[Any] | None) -> tuple[float, float] | None:
    """(a, b) when the map is x -> a*x + b on every value x can take (`vals`)."""
    c = node.const
    num_c = is_number(c)
    cn = c if num_c else 0.0
    structural = {
        ("+", "right"): (1.0, cn),
        ("+", "left"): (1.0, cn),
        ("-", "right"): (1.0, -cn),
        ("-", "left"): (-1.0, cn),
        ("*", "right"): (cn, 0.0),
        ("*", "left"): (cn, 0.0),
        ("neg", None): (-1.0, 0.0),
        ("pos", None): (1.0, 0.0),
    }
    key = (node.op, node.const_side)
    if key in structural and (num_c or node.const_side is None):
        a, b = structural[key]
        return float(a), float(b)
    if key == ("/", "right") and num_c and c != 0:
        return 1.0 / c, 0.0
    if vals is None or not vals or len(vals) > 100_000:
        return None
    fn = node.fn()
    by_x: dict[float, float] = {}  # equal numbers (5, 5.0) are one point to the model
    for v in vals:
        o = apply(fn, (v,))  # (one by one: a comparison's first bool ends it)
        if o is MISSING or not is_number(o) or by_x.setdefault(float(v), float(o)) != float(o):
            return None
    pts = sorted(by_x.items())
    if len(pts) == 1:
        return 0.0, pts[0][1]
    (x0, y0), (x1, y1) = pts[0], pts[-1]
    a = (y1 - y0) / (x1 - x0)
    b = y0 - a * x0
    if all(abs(a * x + b - y) <= 1e-12 * max(1.0, abs(y)) for x, y in pts):
        return a, b
    return None
