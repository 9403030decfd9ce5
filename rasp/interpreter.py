"""The reference interpreter: runs an IR graph on a batch of equal-length inputs with numpy.

An s-op's value on a batch is a `Column` (`rasp.columns`): an int code per (input, position) into
a small table of the Python values that actually occur; elementwise operations run the Python
operator once per distinct value. Selectors are boolean arrays `[batch, query, key]`, and
aggregation averages as the original does (`rasp.attention`). `ExampleMemo` keeps the values on
the REPL's running examples between statements.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from rasp import ir
from rasp.attention import aggregate, select
from rasp.columns import (
    Column,
    check_homogeneous,
    map_column,
)
from rasp.errors import RaspError, RaspEvalError

# Selector cells allowed in one pass; larger batches are split, larger single inputs refused.
MAX_SELECTOR_CELLS = 1 << 26


# ---- graph evaluation ---------------------------------------------------------------------------


def _locate(err: RaspError, node: ir.IRNode, roots: list[ir.IRNode]) -> RaspError:
    """Point the error at the failing node, or (a token conversion has no source) at the
    nearest expression that reads it; inside the library or another file, also name the
    nearest place in the program evaluated (`roots`' file) that uses it."""
    if err.line is not None:
        return err
    placed = [(n, n.span) for n in _users(node, roots) if n.span is not None and n.span.line]
    if not placed:
        return err
    at, span = placed[0]
    err.located(span.line, span.column, at.path, span.line_text)
    home = roots[0].path
    if at.path != home:
        user = next(((n, s) for n, s in placed if n.path == home), None)
        if user is not None:
            err.note(f"used at {user[0].where()}: {user[1].text.splitlines()[0]}")
    return err


def _users(node: ir.IRNode, roots: list[ir.IRNode]) -> list[ir.IRNode]:
    """`node`, then the nodes that read it, nearest first (computed only when an error is
    reported)."""
    readers: dict[int, list[ir.IRNode]] = {}
    for n in ir.walk(roots):
        for child in n.children():
            readers.setdefault(child.id, []).append(n)
    chain, seen, frontier = [], {node.id}, [node]
    while frontier:
        chain += frontier
        nxt = []
        for n in frontier:
            for r in readers.get(n.id, []):
                if r.id not in seen:
                    seen.add(r.id)
                    nxt.append(r)
        frontier = nxt
    return chain


def _python_error(exc: Exception, node: ir.IRNode, roots: list[ir.IRNode]) -> RaspError:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return _locate(RaspEvalError(str(message)), node, roots)


def evaluate_nodes(
    roots: list[ir.IRNode],
    inputs: Sequence[Sequence[Any]],
    memo: dict[int, Column | np.ndarray] | None = None,
) -> dict[int, Column | np.ndarray]:
    """Evaluate `roots` (and what they need) on equal-length inputs. Returns node id → value.
    `memo` holds values already known on these inputs: they are neither recomputed nor walked
    through, and the new ones are added to it."""
    n = len(inputs[0])
    shape = (len(inputs), n)
    tokens = Column.from_rows(inputs)
    if memo is None:
        memo = {}
    known = memo
    for node in ir.walk(roots, lambda nd: () if nd.id in known else nd.children()):
        if node.id in memo:
            continue
        try:
            value = _evaluate_one(node, memo, tokens, shape)
        except RaspError as err:
            raise _locate(err, node, roots) from None
        except (
            ArithmeticError,
            TypeError,
            ValueError,
            IndexError,
            KeyError,
            AttributeError,
            OverflowError,
        ) as exc:
            raise _python_error(exc, node, roots) from None
        if isinstance(value, Column):
            try:
                check_homogeneous(value, isinstance(node, ir.Tokens | ir.Indices))
            except RaspError as err:
                raise _locate(err, node, roots) from None
        memo[node.id] = value
    return memo


def _evaluate_one(node: ir.IRNode, memo, tokens: Column, shape) -> Column | np.ndarray:
    get = lambda child: memo[child.id]  # noqa: E731 - children are evaluated first
    match node:
        case ir.Tokens(conversion=conv):
            return map_column(ir.TOKEN_CONVERSIONS[conv], [tokens])
        case ir.Indices():
            return Column(np.broadcast_to(np.arange(shape[1]), shape).copy(), list(range(shape[1])))
        case ir.Full(value=value):
            return Column.constant(value, shape)
        case ir.Map():
            return map_column(node.fn(), [get(node.child)])
        case ir.SequenceMap():
            return map_column(node.fn(), [get(c) for c in node.inputs])
        case ir.Aggregate():
            return aggregate(get(node.selector), get(node.sop), node.default)
        case ir.Select():
            return select(get(node.keys), get(node.queries), node.op)
        case ir.SelectorCombine(op="and"):
            return get(node.inputs[0]) & get(node.inputs[1])
        case ir.SelectorCombine(op="or"):
            return get(node.inputs[0]) | get(node.inputs[1])
        case ir.SelectorCombine(op="not"):
            return ~get(node.inputs[0])
    raise TypeError(f"unknown IR node {type(node).__name__}")  # pragma: no cover


def has_selector(roots: list[ir.IRNode]) -> bool:
    return any(isinstance(n, ir.Selector) for n in ir.walk(roots))


def evaluate_batch(node: ir.IRNode, inputs: Sequence[Sequence[Any]]) -> list[list]:
    """Evaluate one s-op or selector on ragged inputs: grouped by length, chunked for memory."""
    groups: dict[int, list[int]] = {}
    for i, x in enumerate(inputs):
        groups.setdefault(len(x), []).append(i)
    needs_cells = has_selector([node])
    results: list[Any] = [None] * len(inputs)
    for n, members in groups.items():
        chunk = len(members)
        if needs_cells:
            if n * n > MAX_SELECTOR_CELLS:
                longest = int(MAX_SELECTOR_CELLS**0.5)
                raise RaspEvalError(
                    f"input of {n:,} tokens is too long: a selector over it needs {n * n:,} "
                    f"cells (the limit is {MAX_SELECTOR_CELLS:,}, inputs of {longest:,} tokens)"
                )
            chunk = max(1, MAX_SELECTOR_CELLS // (n * n))
        for start in range(0, len(members), chunk):
            part = members[start : start + chunk]
            try:
                value = evaluate_nodes([node], [inputs[i] for i in part])[node.id]
            except RaspError as err:
                if len(inputs) > 1:
                    err.message += _which_input(part, inputs, node)
                raise
            rows = value.rows() if isinstance(value, Column) else value.tolist()
            for i, row in zip(part, rows, strict=True):
                results[i] = row
    return results


def _which_input(part: list[int], inputs, node) -> str:
    """Name the first input of a failing chunk that fails on its own."""
    for i in part:
        try:
            evaluate_nodes([node], [inputs[i]])
        except RaspError:
            return f" (on input #{i}: {list(inputs[i])!r})"
    return ""


class ExampleMemo:
    """Values of nodes on a few single inputs (the REPL's running examples), kept between
    evaluations: a new s-op made from old ones costs only its own node, so a long session
    stays linear in its length (the original memoises the same way)."""

    KEEP = 4  # inputs remembered (the s-op example, the selector example, a call's input)
    MAX_CELLS = 1 << 25  # values and selector cells kept per input; beyond, it starts afresh

    def __init__(self) -> None:
        self._memos: dict[str, dict[int, Column | np.ndarray]] = {}
        self._cells: dict[str, int] = {}

    def evaluate(self, node: ir.IRNode, x: Sequence[Any]) -> Any:
        """`node` on one (non-empty) input: a list of values, or a selector's rows."""
        if len(x) ** 2 > MAX_SELECTOR_CELLS:
            return evaluate_batch(node, [x])[0]  # it says whether the input is too long
        key = repr(x)
        memo = self._memos.pop(key, None)
        if memo is None:
            memo = {}
            if len(self._memos) >= self.KEEP:
                del self._memos[next(iter(self._memos))]
        self._memos[key] = memo
        before = len(memo)
        value = evaluate_nodes([node], [x], memo)[node.id]
        added = itertools.islice(reversed(memo.values()), len(memo) - before)
        self._cells[key] = self._cells.get(key, 0) + sum(
            v.codes.size if isinstance(v, Column) else v.size for v in added
        )
        if self._cells[key] > self.MAX_CELLS:  # a long session on a long example: bound it
            memo.clear()
            self._cells[key] = 0
        return value.rows()[0] if isinstance(value, Column) else value.tolist()[0]
