"""Positions relative to the length, on hand-built IR: which integer s-ops always name a
position that exists (so that `select(indices, that, ==)` selects exactly one key)."""

from __future__ import annotations

from compiler.bounds import relative_bounds, selects_a_position
from compiler.normalise import Width
from rasp import ir

INDICES = ir.Indices()
ONE = ir.Full(value=1)
LENGTH = Width(selector=ir.Select(keys=ONE, queries=ONE, op="=="), is_length=True)  # all keys


def _map(op: str, child: ir.SOp, const: int, side: str) -> ir.Map:
    return ir.Map(op=op, child=child, const=const, const_side=side)


def test_bounds_of_indices_length_and_their_sums():
    assert relative_bounds(INDICES) == ((0.0, 0.0), (-1.0, 1.0))  # 0 .. length - 1
    assert relative_bounds(LENGTH) == ((0.0, 1.0), (0.0, 1.0))
    flip = ir.SequenceMap(op="-", inputs=(_map("-", LENGTH, 1, "right"), INDICES))
    assert relative_bounds(flip) == ((0.0, 0.0), (-1.0, 1.0))  # length - 1 - i: 0 .. n - 1
    assert relative_bounds(_map("-", INDICES, 3, "left")) == ((4.0, -1.0), (3.0, 0.0))  # 3 - i
    assert relative_bounds(ir.Map(op="neg", child=INDICES)) == ((1.0, -1.0), (0.0, 0.0))
    assert relative_bounds(_map("*", INDICES, 2, "right")) is None  # not affine in length
    assert relative_bounds(ir.Tokens()) is None


def test_selects_a_position_needs_integers_within_every_length():
    flip = ir.SequenceMap(op="-", inputs=(_map("-", LENGTH, 1, "right"), INDICES))
    n = 5
    assert selects_a_position(flip, list(range(n)), n)
    assert selects_a_position(INDICES, list(range(n)), n)
    plus_one = _map("+", INDICES, 1, "right")  # i + 1 is length at the last position
    assert not selects_a_position(plus_one, list(range(1, n + 1)), n)
    assert not selects_a_position(flip, None, n)  # value set unknown
    assert not selects_a_position(flip, [0.0, 1.0], n)  # floats name no position
