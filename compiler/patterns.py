"""Idioms the compiler lowers as wholes: `selector_width(sel)`, `length` and prefix counts.

The standard library writes the first two in RASP on top of aggregates (a position-0 trick and
a `round(1 / ...)`); compiled literally they would need wide MLPs over fractions. Recognised by
their IR shape, they become one attention head that also attends to the BOS token (weight
1/(w+1)) followed by a small discretising MLP, which is exact by construction. A prefix count
written as a fraction times the prefix length, `round(aggregate(select(indices, indices, <=),
x) * (indices + 1))`, is the width of `select(x, 1, ==)` over the prefix when x is 0/1: the
same head and MLP, rather than an MLP over every (fraction, length) pair.
"""

from __future__ import annotations

from rasp import ir


def _is_full(node: ir.IRNode, value) -> bool:
    return isinstance(node, ir.Full) and type(node.value) is type(value) and node.value == value


def _is_index_indicator(node: ir.IRNode) -> bool:
    """indicator(indices == 0)."""
    return (
        isinstance(node, ir.Map)
        and node.op == "indicator"
        and isinstance(node.child, ir.Map)
        and node.child.op == "=="
        and isinstance(node.child.child, ir.Indices)
        and node.child.const_side == "right"
        and type(node.child.const) is int
        and node.child.const == 0
    )


def _is_at0(node: ir.IRNode) -> bool:
    """select(indices, 0, ==)."""
    return (
        isinstance(node, ir.Select)
        and node.op == "=="
        and isinstance(node.keys, ir.Indices)
        and _is_full(node.queries, 0)
    )


def _reciprocal_of(node: ir.IRNode) -> ir.IRNode | None:
    """X in `1 / X`."""
    if (
        isinstance(node, ir.Map)
        and node.op == "/"
        and node.const_side == "left"
        and type(node.const) is int
        and node.const == 1
    ):
        return node.child
    return None


def match_width(node: ir.IRNode) -> tuple[ir.Selector, bool] | None:
    """(selector, is_length) when `node` is the library's selector_width(sel) or length, or
    a width written as the reciprocal of key 0's share."""
    if not (isinstance(node, ir.Map) and node.op == "round" and node.const_side is None):
        return None
    body = node.child
    # round(1 / aggregate(sel, indicator(indices == 0))): key 0's share of the mean is
    # 1/width(sel) when sel selects it (else 1/0 raises: no output to match). With a full
    # selector that is `length`; the paper writes widths so, with `sel or select(indices,
    # 0, ==)`.
    share = _reciprocal_of(body)
    if isinstance(share, ir.Aggregate) and _is_index_indicator(share.sop) and _zero(share.default):
        return share.selector, _is_full_selector(share.selector)
    # selector_width: round(1 / share0 - 1 + chose0)
    if not (isinstance(body, ir.SequenceMap) and body.op == "+" and len(body.inputs) == 2):
        return None
    minus, chose0 = body.inputs
    if not (
        isinstance(minus, ir.Map)
        and minus.op == "-"
        and minus.const_side == "right"
        and type(minus.const) is int
        and minus.const == 1
    ):
        return None
    share0 = _reciprocal_of(minus.child)
    if not (
        isinstance(share0, ir.Aggregate)
        and _is_index_indicator(share0.sop)
        and _zero(share0.default)
    ):
        return None
    with0 = share0.selector
    if not (
        isinstance(with0, ir.SelectorCombine) and with0.op == "or" and _is_at0(with0.inputs[1])
    ):
        return None
    sel, at0 = with0.inputs
    if not (isinstance(chose0, ir.Aggregate) and _is_full(chose0.sop, 1) and _zero(chose0.default)):
        return None
    both = chose0.selector
    if not (
        isinstance(both, ir.SelectorCombine)
        and both.op == "and"
        and both.inputs[0] is sel
        and both.inputs[1] is at0
    ):
        return None
    return sel, False


def always_selects(sel: ir.Selector) -> bool:
    """A selector written to select every key for every query: `s or not s` (Tracr's
    `Comparison.TRUE`, as its `make_length` is written in RASP) or `select(k, q, ==) or
    select(k, q, !=)`. Both hold whatever the values (a comparison that raises selects
    nothing, so its `not` selects)."""
    if not (isinstance(sel, ir.SelectorCombine) and sel.op == "or" and len(sel.inputs) == 2):
        return False
    a, b = sel.inputs
    for x, y in ((a, b), (b, a)):
        if isinstance(y, ir.SelectorCombine) and y.op == "not" and _same_selector(x, y.inputs[0]):
            return True
    return (
        isinstance(a, ir.Select)
        and isinstance(b, ir.Select)
        and _same_sides(a, b)
        and {a.op, b.op} == {"==", "!="}
    )


def _same_selector(x: ir.Selector, y: ir.Selector) -> bool:
    """One selector, or two `select`s of the same keys and queries by the same comparison."""
    if x is y:
        return True
    return (
        isinstance(x, ir.Select) and isinstance(y, ir.Select) and x.op == y.op and _same_sides(x, y)
    )


def _same_sides(x: ir.Select, y: ir.Select) -> bool:
    """The same keys and the same queries (one s-op, or equal constants)."""
    return _same_sop(x.keys, y.keys) and _same_sop(x.queries, y.queries)


def _same_sop(x: ir.SOp, y: ir.SOp) -> bool:
    if x is y:
        return True
    return (
        isinstance(x, ir.Full)
        and isinstance(y, ir.Full)
        and type(x.value) is type(y.value)
        and x.value == y.value
    )


def _by_position(sel: ir.IRNode, op: str) -> bool:
    """select(indices, indices, op)."""
    return (
        isinstance(sel, ir.Select)
        and sel.op == op
        and isinstance(sel.keys, ir.Indices)
        and isinstance(sel.queries, ir.Indices)
    )


def is_upto(sel: ir.IRNode) -> bool:
    """select(indices, indices, <=): every position up to the query's."""
    return _by_position(sel, "<=")


def _is_before(sel: ir.IRNode) -> bool:
    """select(indices, indices, <): every position before the query's."""
    return _by_position(sel, "<")


def _is_index_plus_one(node: ir.IRNode) -> bool:
    return (
        isinstance(node, ir.Map)
        and node.op == "+"
        and isinstance(node.child, ir.Indices)
        and type(node.const) is int
        and node.const == 1
    )


def match_count(node: ir.IRNode) -> ir.Aggregate | None:
    """The aggregate of round(aggregate(sel, x) * size) (in either order) when size is how
    many keys sel selects: indices + 1 for upto = select(indices, indices, <=) (a prefix
    count), indices for select(indices, indices, <) (earlier positions), `length` for a full
    selector (the library's `count`). It counts the selected
    positions where x is 1, when x is 0/1 (which the value sets decide; see
    `normalise.PrefixCount`)."""
    if not (isinstance(node, ir.Map) and node.op == "round" and node.const_side is None):
        return None
    prod = node.child
    if not (isinstance(prod, ir.SequenceMap) and prod.op == "*" and len(prod.inputs) == 2):
        return None
    for agg, size in (prod.inputs, prod.inputs[::-1]):
        if not isinstance(agg, ir.Aggregate):
            continue
        if is_upto(agg.selector) and _is_index_plus_one(size):
            return agg
        if (
            _is_before(agg.selector)
            and isinstance(size, ir.Indices)
            and (agg.default is None or type(agg.default) in (int, float))
        ):
            return agg  # the earlier positions: i of them (none at 0: default * 0 is 0)
        width = match_width(size)
        if _is_full_selector(agg.selector) and width is not None and width[1]:
            return agg
    return None


def _zero(v) -> bool:
    return type(v) is int and v == 0


def _is_full_selector(sel: ir.IRNode) -> bool:
    """select(c, c, ==) on two equal constants: every query selects every key."""
    return (
        isinstance(sel, ir.Select)
        and isinstance(sel.keys, ir.Full)
        and isinstance(sel.queries, ir.Full)
        and _safe_pred(sel, sel.keys.value, sel.queries.value)
    )


def _safe_pred(sel: ir.Select, k, q) -> bool:
    try:
        return bool(sel.predicate()(k, q))
    except Exception:  # noqa: BLE001 - a failing comparison is simply not "always true"
        return False
