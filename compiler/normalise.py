"""Stage 0: normalise. Idioms the library and the paper write in RASP become explicit nodes
once, so that later stages read node kinds instead of matching shapes:

- `Width(sel)`: selector_width(sel), `length` (is_length), and a width written as the
  reciprocal of key 0's share (see `patterns.match_width`); the width of a selector written
  to select every key (`s or not s`, Tracr's `Comparison.TRUE`) is `length`;
- `PrefixCount`: round(aggregate(upto, x) * (indices + 1)), the width of `select(x, 1, ==)
  and upto` when x is 0/1 (which the value sets decide), else its `fallback` as written;
  the library's `count`, round(length * aggregate(full_s, x)), likewise over full_s.

The program's graph is not changed: rewritten nodes are new, and a node whose inputs were
rewritten is copied with the same id (it stands for the same value of the program, which
is what `verify` compares); everything else is shared.
"""

from __future__ import annotations

import dataclasses

from compiler import patterns
from rasp import ir


@dataclasses.dataclass(eq=False)
class Width(ir.SOp):
    """How many keys each query selects (BOS-share head plus a small MLP when lowered)."""

    selector: ir.Selector = dataclasses.field(kw_only=True)
    is_length: bool = False  # the selector selects every key: this is `length`

    def children(self) -> tuple[ir.IRNode, ...]:
        return (self.selector,)


@dataclasses.dataclass(eq=False)
class PrefixCount(ir.SOp):
    """The ones of a 0/1 `counted` up to each position: the width of `selector`."""

    selector: ir.Selector = dataclasses.field(kw_only=True)
    counted: ir.SOp = dataclasses.field(kw_only=True)
    # the expression as written, for a counted s-op not 0/1
    fallback: ir.SOp = dataclasses.field(kw_only=True)

    def children(self) -> tuple[ir.IRNode, ...]:
        return (self.selector, self.counted, self.fallback)


def _reads(node: ir.IRNode) -> tuple[ir.IRNode, ...]:
    """What a node's normal form is built from (a width's library internals are dropped)."""
    width = patterns.match_width(node)
    if width is not None:
        return (width[0],)
    return node.children()


class _Forms(dict[int, ir.IRNode]):
    """Normal forms by node id. A form has its node's kind: an s-op's is an s-op, a
    selector's a selector."""

    def sop(self, n: ir.SOp) -> ir.SOp:
        got = self[n.id]
        if not isinstance(got, ir.SOp):
            raise TypeError(f"the normal form of s-op {n.label} is not an s-op")
        return got

    def sel(self, n: ir.Selector) -> ir.Selector:
        got = self[n.id]
        if not isinstance(got, ir.Selector):
            raise TypeError(f"the normal form of selector {n.label} is not a selector")
        return got


def normalise(root: ir.SOp) -> ir.SOp:
    """The normal form of an s-op (the program's own nodes where nothing changes)."""
    new = _Forms()
    for n in ir.walk([root], _reads):
        new[n.id] = _normal(n, new)
    return new.sop(root)


def _normal(n: ir.IRNode, new: _Forms) -> ir.IRNode:
    width = patterns.match_width(n)
    if width is not None:
        sel, is_length = new.sel(width[0]), width[1]
        if not is_length and patterns.always_selects(width[0]):
            sel, is_length = _full_selector(width[0]), True  # `length`, however written
        return Width(
            selector=sel, is_length=is_length, span=n.span, path=n.path, name=n.name, id=n.id
        )
    copy = _copy(n, new)
    agg = patterns.match_count(n)
    if agg is not None:
        sop, sel = new.sop(agg.sop), new.sel(agg.selector)
        span, path = agg.span, agg.path
        ones = ir.Select(
            keys=sop, queries=ir.Full(value=1, span=span, path=path), op="==", span=span, path=path
        )
        counts = ir.SelectorCombine(
            op="and",
            inputs=(ones, sel),
            span=span,
            path=path,
            name=f"select({sop.label}, 1, ==) and {sel.label}",
        )
        fallback = dataclasses.replace(copy, id=_fresh_id())
        if not isinstance(fallback, ir.SOp):
            raise TypeError(f"a count is an s-op, not {type(fallback).__name__}")
        return PrefixCount(
            selector=counts,
            counted=sop,
            fallback=fallback,
            span=n.span,
            path=n.path,
            name=n.name,
            id=n.id,
        )
    return copy


def _full_selector(written: ir.Selector) -> ir.Select:
    """select(1, 1, ==), the library's `full_s`, where `written` stood."""
    span, path = written.span, written.path
    one = ir.Full(value=1, span=span, path=path)
    return ir.Select(keys=one, queries=one, op="==", span=span, path=path, name=written.name)


def _fresh_id() -> int:
    return ir.IRNode().id  # the IR hands out ids only with nodes


def _copy(n: ir.IRNode, new: _Forms) -> ir.IRNode:
    """n over its inputs' normal forms (n itself when they are its own inputs)."""
    kids = n.children()
    if all(new[c.id] is c for c in kids):
        return n
    match n:
        case ir.Map():
            return dataclasses.replace(n, child=new.sop(n.child))
        case ir.SequenceMap():
            return dataclasses.replace(n, inputs=tuple(new.sop(c) for c in n.inputs))
        case ir.Aggregate():
            return dataclasses.replace(n, selector=new.sel(n.selector), sop=new.sop(n.sop))
        case ir.Select():
            return dataclasses.replace(n, keys=new.sop(n.keys), queries=new.sop(n.queries))
        case ir.SelectorCombine():
            return dataclasses.replace(n, inputs=tuple(new.sel(c) for c in n.inputs))
    raise TypeError(f"unknown IR node {type(n).__name__}")  # pragma: no cover
