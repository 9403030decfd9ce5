"""Comparisons of two numbers through their difference: `x OP y` is `(x - y) OP 0`, so the MLP
reads one number, linear in both inputs, instead of enumerating every (x, y) pair (a mean of
indices against the indices: 16 x 1,217 pairs at max_len 16, 64 x 79k at 64). Its steps need
only the differences next to 0 and the extremes (a ramp holds its value beyond them), which
also keeps the step wide however close together the other differences are. A select or a
comparison reads a sum as a number whatever its type (`AsNumber`), and a select of a sum too
large to list reads only the values next to a match (`points_near`). A product of two ints
with too many pairs is a difference of two squares (`by_squares`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.discretise import MLP_TUPLES, Outputs, pointwise
from compiler.linear import ONE, Lin
from compiler.plan import Linear, PNode, err_of, read
from compiler.tabulate import affine_of
from compiler.values import Analysis, is_number
from rasp import ir

COMPARE = ("<", "<=", ">", ">=", "==", "!=")
MAX_PAIRS = 20_000_000  # (x, y) pairs whose differences are listed (numpy, 8 bytes each)


def difference_points(xs: list[Any], ys: list[Any]) -> list[float] | None:
    """The differences x - y next to 0 (the largest below, 0, the smallest above) and the
    extremes: every point where `(x - y) OP 0` can change, and the ends of its range."""
    if len(xs) * len(ys) > MAX_PAIRS:
        return None
    d = np.subtract.outer(
        np.array([float(v) for v in xs]), np.array([float(v) for v in ys])
    ).ravel()
    below, above = d[d < 0], d[d > 0]
    points = {float(d.min()), float(d.max())}
    if len(below):
        points.add(float(below.max()))
    if len(above):
        points.add(float(above.min()))
    if (d == 0).any():
        points.add(0.0)
    return sorted(points)


def by_difference(
    node: ir.IRNode,
    lower: Callable[[ir.IRNode], PNode],
    mlp: Callable[..., PNode],
    new: Callable[..., PNode],
) -> PNode | None:
    """`x OP y` of two numbers as an MLP over x - y, when the pairs are too many for one MLP
    over both (None otherwise, or when x or y is not a number)."""
    if not (isinstance(node, ir.SequenceMap) and node.op in COMPARE and len(node.inputs) == 2):
        return None
    x, y = (lower(c) for c in node.inputs)
    if x.values is None or y.values is None or len(x.values) * len(y.values) <= MLP_TUPLES:
        return None
    if not all(is_number(v) for v in [*x.values, *y.values]):
        return None
    points = difference_points(x.values, y.values)
    if points is None:
        return None
    lin = _number(x) - _number(y)
    diff = new(
        Linear,
        "numerical",
        points,
        f"{x.label} - {y.label}",
        node,
        lin=lin,
        err=x.err + y.err,
        role="difference (next to 0)",
        checks=False,
    )
    op = ir.elementwise_fn(node.op)
    outputs: Outputs = pointwise(lambda d: op(d, 0))
    return mlp([diff], outputs, node.label, node, role="MLP (comparison)")


def by_squares(
    node: ir.IRNode,
    lower: Callable[[ir.IRNode], PNode],
    mlp: Callable[..., PNode],
    new: Callable[..., PNode],
) -> PNode | None:
    """`x * y` of two ints whose pairs are too many for one MLP, in two stages: the sum and
    the difference are linear, each squared by an MLP of one input (in one layer), and
    ((x + y)^2 - (x - y)^2) / 4 is a linear read-out of the squares (a product of two
    widths at max_len 150: 2 x 301 values instead of 151 x 151 pairs). None otherwise."""
    if not (isinstance(node, ir.SequenceMap) and node.op == "*" and len(node.inputs) == 2):
        return None
    x, y = (lower(c) for c in node.inputs)
    if x.values is None or y.values is None or len(x.values) * len(y.values) <= MLP_TUPLES:
        return None
    if not all(type(v) is int for v in [*x.values, *y.values]):  # ints: the squares are exact
        return None
    squares = []
    for sign, op in ((1, "+"), (-1, "-")):
        values = sorted({a + sign * b for a in x.values for b in y.values})
        both = new(
            Linear,
            "numerical",
            values,
            f"{x.label} {op} {y.label}",
            node,
            lin=_number(x) + _number(y).scaled(float(sign)),
            err=x.err + y.err,
            role=f"{'sum' if sign > 0 else 'difference'} (for a product)",
            checks=False,
        )
        square = mlp([both], pointwise(lambda v: v * v), f"({both.label})^2", node, role="MLP")
        square.checks = False  # not the node's value
        squares.append(square)
    lin = (_number(squares[0]) - _number(squares[1])).scaled(0.25)
    products = sorted({a * b for a in x.values for b in y.values})
    return new(
        Linear,
        "numerical",
        products,
        node.label,
        node,
        lin=lin,
        err=err_of(lin),
        role="product (a difference of squares)",
    )


def by_nearest(
    node: ir.IRNode,
    lower: Callable[[ir.IRNode], PNode],
    mlp: Callable[..., PNode],
    new: Callable[..., PNode],
) -> PNode | None:
    """`m OP c` of a mean m whose values are too many to list but lie on a known grid
    (`MeanGrid`): an MLP over the grid's points next to c, which is all `OP c` needs
    (balance == 0 at max_len 512: 5 points instead of ~160k means). None otherwise."""
    if not (isinstance(node, ir.Map) and node.op in COMPARE and is_number(node.const)):
        return None
    m = lower(node.child)
    if m.values is not None or m.grid is None or m.enc != "numerical":
        return None
    points = m.grid.near(float(node.const))
    if points is None:
        return None
    near = new(
        Linear,
        "numerical",
        points,
        f"{m.label} (next to {node.const})",
        node,
        lin=read(m),
        err=m.err,
        role="mean (next to a constant)",
        checks=False,
    )
    return mlp([near], pointwise(node.fn()), node.label, node, role="MLP (comparison)")


def points_near(p: PNode, targets: list[Any]) -> list[float] | None:
    """The values a one-dimensional linear read-out of numbers can take next to each target
    (equal to it, the nearest below and above) and its extremes: all `p == target` needs,
    listed with numpy where p's own value set is too large to keep (a sum of a position
    and a mean over up to max_len positions). None when a source's values are unknown."""
    if not isinstance(p, Linear) or p.lin.rows != 1 or not all(is_number(t) for t in targets):
        return None
    vals = np.array([float(p.lin.terms.get(ONE, np.zeros((1, 1)))[0, 0])])
    for src, m in p.lin.sources_terms():
        if src.values is None or not all(is_number(v) or isinstance(v, bool) for v in src.values):
            return None
        col = (
            m[0] if src.enc == "categorical" else m[0, 0] * np.array([float(v) for v in src.values])
        )
        if len(vals) * len(col) > MAX_PAIRS:
            return None
        vals = np.unique(np.add.outer(vals, col).ravel())
    t = np.array(sorted({float(x) for x in targets}))
    at = np.searchsorted(vals, t)
    near = np.concatenate([at - 1, at, at + 1])
    keep = np.union1d(near[(near >= 0) & (near < len(vals))], [0, len(vals) - 1])
    return [float(v) for v in vals[keep]]


def _number(p: PNode) -> Lin:
    if p.enc == "numerical":
        return read(p)
    return read(p).left(np.array([[float(v) for v in p.domain]]))


class AsNumber:
    """Mixed into `lower.Lowerer` (uses its lower, numeric, read, pnode, keys, shared and
    analysis, and its affine and summed read-outs)."""

    a: Analysis
    keys: Any
    shared: dict[tuple[str, Any], PNode]
    lower: Callable[[ir.IRNode], PNode]
    affine: Callable[..., PNode]
    summed: Callable[..., PNode]

    def as_number(self, node: ir.IRNode) -> PNode:
        """node's value as a number, whatever its type (3 or 3.0): all a select or a
        comparison reads. A sum whose number type only an MLP could carry (see numtype)
        stays a linear sum here, even with too many values to list (see `side_onehot`)."""
        if isinstance(node, ir.Map) and node.op in ("+", "-", "neg", "pos"):
            key = ("as number", self.keys.of(node))
            got = self.shared.get(key)
            if got is None:
                child = self.as_number(node.child)
                affine = affine_of(node, self.a.values.get(node.child.id))
                vals = self.a.values.get(node.id)
                if affine is None or child.enc != "numerical":
                    got = self.lower(node)
                else:
                    got = self.affine(
                        node, child, affine, vals, "affine map (as a number)", checks=False
                    )
                self.shared[key] = got
            return got
        if not (
            isinstance(node, ir.SequenceMap) and node.op in ("+", "-") and len(node.inputs) == 2
        ):
            return self.lower(node)
        key = ("as number", self.keys.of(node))
        got = self.shared.get(key)
        if got is None:
            ins = [self.as_number(c) for c in node.inputs]
            vals = self.a.values.get(node.id)
            if not all(p.enc == "numerical" or all(is_number(v) for v in p.domain) for p in ins):
                got = self.lower(node)
            else:
                got = self.summed(node, ins, vals, "sum (as a number)", checks=False)
            self.shared[key] = got
        return got
