"""Positions relative to the length. A bound is (c, m): the number c + m * length. Enough to
see that `length - indices - 1` or `length - 1` always names a position that exists, so that
`select(indices, that, ==)` always selects exactly one key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compiler.normalise import Width
from rasp import ir

Bound = tuple[float, float]


def relative_bounds(node: ir.IRNode) -> tuple[Bound, Bound] | None:
    """(lowest, highest) value of an integer s-op as bounds in terms of the length."""
    if isinstance(node, Width) and node.is_length:
        return (0.0, 1.0), (0.0, 1.0)
    match node:
        case ir.Indices():
            return (0.0, 0.0), (-1.0, 1.0)
        case ir.Full(value=v) if type(v) is int:
            return (float(v), 0.0), (float(v), 0.0)
        case ir.Map(op=op, const=c, const_side=side):
            inner = relative_bounds(node.child)
            if inner is None:
                return None
            (lc, lm), (hc, hm) = inner
            if op == "neg":
                return (-hc, -hm), (-lc, -lm)
            if type(c) is not int:
                return None
            if op == "+":
                return (lc + c, lm), (hc + c, hm)
            if op == "-" and side == "right":
                return (lc - c, lm), (hc - c, hm)
            if op == "-" and side == "left":
                return (c - hc, -hm), (c - lc, -lm)
            return None
        case ir.SequenceMap(op="+" | "-" as op) if len(node.inputs) == 2:
            x, y = (relative_bounds(i) for i in node.inputs)
            if x is None or y is None:
                return None
            (xl, xh), (yl, yh) = x, y
            if op == "+":
                return (xl[0] + yl[0], xl[1] + yl[1]), (xh[0] + yh[0], xh[1] + yh[1])
            return (xl[0] - yh[0], xl[1] - yh[1]), (xh[0] - yl[0], xh[1] - yl[1])
    return None


def selects_a_position(node: ir.IRNode, vals: Sequence[Any] | None, max_len: int) -> bool:
    """Whether an s-op (whose value set is `vals`, None when unknown) always holds an
    integer in 0..length-1 for every length up to `max_len`."""
    if vals is None or not all(type(v) is int for v in vals):
        return False
    b = relative_bounds(node)
    if b is None:
        return False
    (lc, lm), (hc, hm) = b
    return all(lc + lm * n >= 0 and hc + hm * n <= n - 1 for n in (1, max_len))
