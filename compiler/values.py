"""Stage 1: value sets. For a vocabulary and a maximum length, the finite set of values every
s-op can take, by abstract interpretation of the IR (Python's own operators applied to every
value, or every tuple of values, that can reach a node).

Values are distinct by type and value (1, 1.0 and True differ), as in the interpreter. A set
that would exceed `LIMIT` values is unknown (`None`); stages that need it finite refuse with a
`CompileError` naming the expression. Selectors get a small summary: whether a query can
select more than one key, and whether it always selects at least one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compiler.bounds import selects_a_position
from compiler.budget import Budget
from compiler.normalise import PrefixCount, Width
from compiler.structure import StructKeys
from compiler.valuesets import (
    SelectorInfo,
    aggregate_values,
    apply_all,
    distinct,
    is_number,
    is_numeric_like,
    sums,
)
from rasp import ir
from rasp.values import value_key as vkey  # the language's identity of a value

__all__ = [
    "Analysis",
    "SelectorInfo",
    "aggregate_values",
    "analyse",
    "apply_all",
    "count_selector",
    "determines",
    "distinct",
    "is_number",
    "is_numeric_like",
    "position_injective",
    "selects_one_value",
    "sums",
    "uniform",
    "vkey",
    "walk",
]


@dataclass
class Analysis:
    vocab: list[Any]
    max_len: int
    values: dict[int, list[Any] | None]
    selectors: dict[int, SelectorInfo]
    determined: dict[tuple[int, int], bool] = field(default_factory=dict)  # `determines` memo
    sources: dict[int, list[ir.IRNode]] = field(default_factory=dict)  # `_sources` memo
    keys: StructKeys = field(default_factory=lambda: StructKeys())  # 'the same s-op'
    uniform: dict[int, bool] = field(default_factory=dict)  # `uniform` memo

    def of(self, node: ir.IRNode) -> list[Any] | None:
        return self.values[node.id]


def analyse(
    roots: list[ir.IRNode], vocab: Sequence[Any], max_len: int, budget: Budget | None = None
) -> Analysis:
    """Value sets of every s-op reachable from `roots` (selector summaries too)."""
    a = Analysis(list(vocab), max_len, {}, {})
    nodes = walk(roots)
    for i, node in enumerate(nodes):
        if budget is not None:
            budget.tick("value sets", i, len(nodes))
        if isinstance(node, ir.Selector):
            a.selectors[node.id] = _selector_info(node, a)
        else:
            a.values[node.id] = _values(node, a)
    return a


def count_selector(node: ir.IRNode, a: Analysis) -> ir.Selector | None:
    """The selector whose width a prefix count is, when the counted s-op is 0/1."""
    if not isinstance(node, PrefixCount):
        return None
    vals = a.values.get(node.counted.id)
    ok = vals is not None and all(is_numeric_like(v) and float(v) in (0.0, 1.0) for v in vals)
    return node.selector if ok else None


def walk(roots: list[ir.IRNode]) -> list[ir.IRNode]:
    """Nodes reachable from roots, children first, each once."""
    return list(ir.walk(roots))


def _values(node: ir.IRNode, a: Analysis) -> list[Any] | None:
    n = a.max_len
    match node:
        case Width(selector=sel, is_length=is_length):
            low = 1 if is_length or _all_true(sel, a) else 0
            return list(range(low, n + 1))
        case PrefixCount():
            if count_selector(node, a) is not None:
                return list(range(0, n + 1))
            return a.values.get(node.fallback.id)
        case ir.Tokens(conversion=conv):
            return apply_all(ir.TOKEN_CONVERSIONS[conv], [a.vocab])
        case ir.Indices():
            return list(range(n))
        case ir.Full(value=v):
            return [v]
        case ir.Map():
            child = a.values.get(node.child.id)
            return None if child is None else apply_all(node.fn(), [child])
        case ir.SequenceMap():
            sets = [a.values.get(c.id) for c in node.inputs]
            out = None if any(s is None for s in sets) else apply_all(node.fn(), sets)
            if out is None and node.op in ("+", "-") and len(sets) == 2:
                out = sums(sets[0], sets[1], node.op == "-")
            if out is None and node.op in ir.COMPARISONS:
                return [False, True]  # too many pairs to list: a superset
            return out
        case ir.Aggregate():
            return aggregate_values(
                a.values.get(node.sop.id),
                a.selectors[node.selector.id],
                node.default,
                n,
                selects_one_value(node, a),
            )
    raise TypeError(f"unknown s-op {type(node).__name__}")  # pragma: no cover


def _injective(fn: Callable[..., Any], sets: list[list[Any] | None]) -> bool:
    """fn never maps two different input tuples (from these value sets) to equal results."""
    known = [s for s in sets if s is not None]
    if len(known) < len(sets) or math.prod(len(s) for s in known) > 10_000:
        return False
    try:
        outs = [fn(*args) for args in itertools.product(*known)]
        return len(set(outs)) == len(outs)
    except Exception:  # noqa: BLE001 - raising, or unhashable results: not shown injective
        return False


_POSITION = ir.Indices()  # `determines(x, _POSITION)`: x differs between any two positions


def position_injective(node: ir.IRNode, a: Analysis) -> bool:
    """Distinct positions always hold distinct values (indices, a map of them, a stable rank)."""
    return determines(node, _POSITION, a)


def _same(x: ir.IRNode, y: ir.IRNode, a: Analysis) -> bool:
    """The same computation (so the same value at every position)."""
    return x is y or a.keys.of(x) == a.keys.of(y)


def _totally_ordered(values: list[Any] | None) -> bool:
    """`<` orders the values strictly: numbers that differ as numbers, or strings."""
    if not values:
        return False
    if all(isinstance(v, str) for v in values):
        return True
    return all(is_numeric_like(v) for v in values) and len({float(v) for v in values}) == len(
        values
    )


def _order_keys(sel: ir.Selector, a: Analysis) -> list[ir.IRNode] | None:
    """[X1, X2, ...] when `sel` selects the keys that come strictly before the query in the
    lexicographic order of (X1, X2, ...): `select(X, X, <)` (or >), and
    `select(X, X, <) or (select(X, X, ==) and ORDER)` for ties broken by ORDER."""
    if isinstance(sel, ir.Select):
        ok = (
            sel.op in ("<", ">")
            and _same(sel.keys, sel.queries, a)
            and _totally_ordered(a.values.get(sel.keys.id))
        )
        return [sel.keys] if ok else None
    if not (isinstance(sel, ir.SelectorCombine) and sel.op == "or"):
        return None
    strict, ties = sel.inputs
    first = _order_keys(strict, a)
    if (
        first is None
        or len(first) != 1
        or not isinstance(ties, ir.SelectorCombine)
        or ties.op != "and"
    ):
        return None
    equal, rest = ties.inputs
    if not (
        isinstance(equal, ir.Select)
        and equal.op == "=="
        and _same(equal.keys, first[0], a)
        and _same(equal.queries, first[0], a)
    ):
        return None
    after = _order_keys(rest, a)
    return None if after is None else first + after


def _sources(x: ir.IRNode, a: Analysis) -> list[ir.IRNode]:
    """S-ops that x determines within any one input: the inputs of an injective map, or the
    keys of a rank: selector_width of a strict (lexicographic) order, or of select(X, X, <=)
    or >=, is strictly monotone in the keys it orders by."""
    got = a.sources.get(x.id)
    if got is None:
        got = a.sources[x.id] = _find_sources(x, a)
    return got


def _shift(x: ir.Map, a: Analysis) -> bool:
    """`x + c`, `c - x`, `-x`, `x * c` (c != 0) of numbers: injective in exact arithmetic (a
    float sum may round two values a few units in the last place apart to one, but those are
    one number computed two ways)."""
    if not _numbers(x.child, a):
        return False
    if x.const_side is None:
        return x.op in ("neg", "pos")
    return is_number(x.const) and (x.op in ("+", "-") or x.op == "*" and x.const != 0)


def _numbers(x: ir.IRNode, a: Analysis) -> bool:
    """x's values are all numbers (int or float): known to be, or a sum, difference or
    shift of numbers whose own set is too large to list."""
    vals = a.values.get(x.id)
    if vals is not None:
        return all(is_number(v) for v in vals)
    if isinstance(x, ir.SequenceMap) and x.op in ("+", "-"):
        return all(_numbers(c, a) for c in x.inputs)
    return (
        isinstance(x, ir.Map) and x.op in ("+", "-") and is_number(x.const) and _numbers(x.child, a)
    )


def uniform(x: ir.IRNode, a: Analysis) -> bool:
    """x holds one value at every position of an input: a constant, or an aggregate (a
    width) whose selector's queries are all uniform (every query selects the same keys),
    or an elementwise function of such values (`length`, where the paper's `+` sits)."""
    got = a.uniform.get(x.id)
    if got is None:
        if isinstance(x, ir.Full):
            got = True
        elif isinstance(x, Width | ir.Aggregate):
            got = _uniform_queries(x.selector, a)
        elif isinstance(x, ir.Map | ir.SequenceMap):
            got = all(uniform(c, a) for c in x.children())
        else:
            got = False
        a.uniform[x.id] = got
    return got


def _uniform_queries(sel: ir.Selector, a: Analysis) -> bool:
    if isinstance(sel, ir.Select):
        return uniform(sel.queries, a)
    return isinstance(sel, ir.SelectorCombine) and all(_uniform_queries(s, a) for s in sel.inputs)


def _find_sources(x: ir.IRNode, a: Analysis) -> list[ir.IRNode]:
    if isinstance(x, Width):
        sel = x.selector
        if x.is_length:
            return []
        if (
            isinstance(sel, ir.Select)
            and sel.op in ("<=", ">=")
            and _same(sel.keys, sel.queries, a)
            and _totally_ordered(a.values.get(sel.keys.id))
        ):
            return [sel.keys]
        return _order_keys(sel, a) or []
    if isinstance(x, ir.Map) and (_shift(x, a) or _injective(x.fn(), [a.values.get(x.child.id)])):
        return [x.child]
    if isinstance(x, ir.SequenceMap) and _injective(x.fn(), [a.values.get(c.id) for c in x.inputs]):
        return list(x.inputs)
    if isinstance(x, ir.SequenceMap) and x.op in ("+", "-") and len(x.inputs) == 2:
        # a sum with a value uniform within the input is injective in the other term
        varying: list[ir.IRNode] = [c for c in x.inputs if not uniform(c, a)]
        vals = [a.values.get(c.id) for c in x.inputs]
        numbers = all(v is not None and all(is_number(t) for t in v) for v in vals)
        if numbers and len(varying) == 1:
            return varying
    return []


def determines(x: ir.IRNode, y: ir.IRNode, a: Analysis) -> bool:
    """Within any one input, positions holding equal values of x hold equal values of y."""
    key = (x.id, y.id)
    got = a.determined.get(key)
    if got is None:
        a.determined[key] = False  # a cycle of claims proves nothing
        got = (
            _same(x, y, a)
            or isinstance(y, ir.Full)
            or isinstance(y, ir.Map)
            and determines(x, y.child, a)
            or isinstance(y, ir.SequenceMap)
            and all(determines(x, c, a) for c in y.inputs)
            or any(determines(s, y, a) for s in _sources(x, a))
            or y is not _POSITION
            and determines(x, _POSITION, a)
        )
        a.determined[key] = got
    return got


def selects_one_value(node: ir.Aggregate, a: Analysis) -> bool:
    """Whether the keys one query selects always hold one value of the aggregated s-op, so
    that their mean is that value whatever weights they get: `select(K, Q, ==)` (or an `and`
    with it) where K determines the s-op and no two different values of K are equal."""

    def one(sel: ir.Selector) -> bool:
        if isinstance(sel, ir.SelectorCombine):
            return sel.op == "and" and any(one(s) for s in sel.inputs)
        if not isinstance(sel, ir.Select):
            return False
        keys = a.values.get(sel.keys.id)
        return sel.op == "==" and _totally_ordered(keys) and determines(sel.keys, node.sop, a)

    return one(node.selector)


def _all_true(sel: ir.Selector, a: Analysis) -> bool:
    if isinstance(sel, ir.Select):
        ks, qs = a.values.get(sel.keys.id), a.values.get(sel.queries.id)
        if ks is None or qs is None:
            return False
        pred = sel.predicate()
        try:
            return all(bool(pred(k, q)) for k in ks for q in qs)
        except Exception:  # noqa: BLE001
            return False
    if isinstance(sel, ir.SelectorCombine) and sel.op == "and":
        return all(_all_true(s, a) for s in sel.inputs)
    if isinstance(sel, ir.SelectorCombine) and sel.op == "or":
        return any(_all_true(s, a) for s in sel.inputs)
    return False


def _selects_itself(sel: ir.Select, a: Analysis) -> bool:
    """`select(x, x, ==)` (or `<=`, `>=`) of one computation: every query selects at least
    its own position, whose key is its own value (x op x holds for every value but NaN)."""
    values = a.values.get(sel.keys.id)
    return (
        sel.op in ("==", "<=", ">=")
        and _same(sel.keys, sel.queries, a)
        and values is not None
        and all(v == v for v in values)
    )


def _selector_info(sel: ir.Selector, a: Analysis) -> SelectorInfo:
    nonempty = _all_true(sel, a)
    if isinstance(sel, ir.Select):
        nonempty = nonempty or _selects_itself(sel, a)
        one = sel.op == "==" and position_injective(sel.keys, a)
        if (
            one
            and isinstance(sel.keys, ir.Indices)
            and selects_a_position(sel.queries, a.values.get(sel.queries.id), a.max_len)
        ):
            nonempty = True
        return SelectorInfo(one, nonempty)
    if not isinstance(sel, ir.SelectorCombine):
        return SelectorInfo(False, nonempty)
    infos = [a.selectors[s.id] for s in sel.inputs]
    if sel.op == "and":
        return SelectorInfo(any(i.max_one for i in infos), nonempty)
    if sel.op == "or":
        return SelectorInfo(False, nonempty or any(i.nonempty for i in infos))
    return SelectorInfo(False, nonempty)
