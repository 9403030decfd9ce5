"""Selectors rewritten into the form that compiles smallest, whatever the phrasing.

Tracr's library breaks ties in a sort by adding a small multiple of the position to the key
(`make_sort`: `keys + min_key * indices / max_seq_len`), then orders by the sum:
`select(K, K, <)` over a K of (keys x positions) values, a table thousands wide. When the
position's share is strictly increasing and smaller than any gap between two keys, that
order is the lexicographic order of (key, position), which RASP's own `sort` writes as
`select(A, A, <) or (select(A, A, ==) and select(indices, indices, <))`: tables over the
keys alone and over the positions, as `examples/sort_freq.rasp` compiles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.tabulate import MISSING, tabulate
from compiler.values import Analysis, is_number
from rasp import ir


def tie_broken(
    sel: ir.Selector,
    a: Analysis,
    same: Callable[[ir.IRNode, ir.IRNode], bool],
    footprint: Callable[[ir.IRNode], frozenset[str]],
) -> ir.Selector:
    """`select(A + B, A + B, <)` (or >) as the lexicographic order of (A, position) when B is
    a strictly monotone function of the position spanning less than A's smallest gap; any
    other selector unchanged."""
    if not (isinstance(sel, ir.Select) and sel.op in ("<", ">") and same(sel.keys, sel.queries)):
        return sel
    k = sel.keys
    if not (isinstance(k, ir.SequenceMap) and k.op == "+" and len(k.inputs) == 2):
        return sel
    for key, tie in (k.inputs, k.inputs[::-1]):
        if footprint(tie) != {"I"} or "I" in footprint(key):
            continue
        order = _position_order(key, tie, a)
        if order is None:
            continue
        pos = next(x for x in ir.walk([tie]) if isinstance(x, ir.Indices))
        span, path = sel.span, sel.path
        strict = ir.Select(keys=key, queries=key, op=sel.op, span=span, path=path)
        equal = ir.Select(keys=key, queries=key, op="==", span=span, path=path)
        flip = {"<": ">", ">": "<"}
        by_pos = ir.Select(
            keys=pos, queries=pos, op=sel.op if order > 0 else flip[sel.op], span=span, path=path
        )
        ties = ir.SelectorCombine(op="and", inputs=(equal, by_pos), span=span, path=path)
        return ir.SelectorCombine(op="or", inputs=(strict, ties), span=span, path=path)
    return sel


def distributed(sel: ir.Selector) -> ir.Selector:
    """`(a or b) and c` as `(a and c) or (b and c)`, whose width splits into the widths of
    two `and`s (each a sum of per-pair tables) instead of one joint table over every input
    (`beaten_by and select(first_seen, True, ==)` in a mode: 2,195 dimensions at max_len 32).
    Anything else unchanged."""
    if not (isinstance(sel, ir.SelectorCombine) and sel.op == "and"):
        return sel
    x, y = sel.inputs
    for either, other in ((x, y), (y, x)):
        if isinstance(either, ir.SelectorCombine) and either.op == "or":
            a, b = either.inputs
            span, path = sel.span, sel.path
            return ir.SelectorCombine(
                op="or",
                inputs=(
                    ir.SelectorCombine(op="and", inputs=(a, other), span=span, path=path),
                    ir.SelectorCombine(op="and", inputs=(b, other), span=span, path=path),
                ),
                span=span,
                path=path,
            )
    return sel


def _position_order(key: ir.IRNode, tie: ir.IRNode, a: Analysis) -> int | None:
    """+1 (-1) when `tie` strictly increases (decreases) with the position and spans less
    than the smallest gap between two values of `key`; else None."""
    keys = a.values.get(key.id)
    if not keys or not all(is_number(v) for v in keys):
        return None
    col = tabulate(tie, a.max_len, {}, index=list(range(a.max_len))).values()
    if any(v is MISSING or not is_number(v) for v in col):
        return None
    b = np.array([float(v) for v in col])
    steps = np.diff(b)
    if len(b) > 1 and (steps > 0).all():
        sign = 1
    elif len(b) > 1 and (steps < 0).all():
        sign = -1
    else:
        return None
    xs = np.unique(np.array([float(v) for v in keys]))
    gap = float(np.diff(xs).min()) if len(xs) > 1 else np.inf
    return sign if float(b.max() - b.min()) < gap else None
