"""The reference interpreter: runs an IR graph on a batch of equal-length inputs with numpy.

An s-op's value on a batch is a `Column`: an int code per (input, position) into a small table of
the Python values that actually occur. Elementwise operations apply the real Python operator once
per distinct value (or distinct tuple of values) and gather; so they are vectorised and have
Python's exact semantics (banker's `round`, true division, floor `%`, `"ab" * 2`, and Python's own
errors). Selectors are boolean arrays `[batch, query, key]`; aggregation is a batched matmul.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import ir
from .errors import RaspError, RaspEvalError, RaspTypeError

# Selector cells allowed in one pass; larger batches are split, larger single inputs refused.
MAX_SELECTOR_CELLS = 1 << 26

# Type classes of values, in the original's terms.
STR, BOOL, INT, FLOAT, OTHER = range(5)


def type_class(v: Any) -> int:
    t = type(v)
    if t is str:
        return STR
    if t is bool:
        return BOOL
    if t is int:
        return INT
    if t is float:
        return FLOAT
    return OTHER


def _key(v: Any) -> tuple[type, Any]:
    """Values are distinct by type as well as by equality: 1, 1.0 and True print differently."""
    return (type(v), v)


@dataclass
class Column:
    """An s-op's values on a batch: `values[codes[b, i]]` is position i of input b."""

    codes: np.ndarray  # int64 [B, n]
    values: list[Any]  # distinct by (type, value), each occurring somewhere in codes

    @staticmethod
    def from_rows(rows: Sequence[Sequence[Any]]) -> Column:
        """Encode equal-length inputs; strings are one token per character."""
        if all(type(r) is str for r in rows):
            return _from_strings(rows)
        flat = [v for row in rows for v in row]
        kinds = set(map(type, flat))
        if len(kinds) == 1 and kinds <= {str, int, float}:
            try:
                arr = np.array(flat)
            except OverflowError:  # Python ints beyond int64
                arr = None
            if arr is not None and arr.dtype != object:
                uniq, inverse = np.unique(arr, return_inverse=True)
                return Column(inverse.reshape(len(rows), -1).astype(np.int64), uniq.tolist())
        remap, values = _dedupe(flat)
        return Column(remap.reshape(len(rows), -1), values)

    @staticmethod
    def constant(value: Any, shape: tuple[int, int]) -> Column:
        return Column(np.zeros(shape, dtype=np.int64), [value])

    def classes(self) -> np.ndarray:
        return np.array([type_class(v) for v in self.values], dtype=np.int8)

    def rows(self) -> list[list[Any]]:
        if len({type(v) for v in self.values}) == 1 and type(self.values[0]) in (str, int, float):
            try:
                return np.array(self.values)[self.codes].tolist()
            except OverflowError:  # ints beyond int64 take the general path
                pass
        vals = np.empty(len(self.values), dtype=object)
        vals[:] = self.values
        return vals[self.codes].tolist()

    def numbers(self) -> np.ndarray:
        """The values as float64 (callers check they are numbers first)."""
        return np.array([float(v) for v in self.values], dtype=np.float64)


def _from_strings(rows: Sequence[str]) -> Column:
    """Fast path for text inputs: code points → codes, without a Python loop per character."""
    points = np.frombuffer("".join(rows).encode("utf-32-le"), dtype=np.uint32)
    present = np.bincount(points)
    used = np.flatnonzero(present)
    lookup = np.zeros(len(present), dtype=np.int64)
    lookup[used] = np.arange(len(used))
    return Column(lookup[points].reshape(len(rows), -1), [chr(c) for c in used])


def _dedupe(outputs: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Map a list of values to codes into a table of distinct values."""
    table: dict[tuple[type, Any], int] = {}
    values: list[Any] = []
    remap = np.empty(len(outputs), dtype=np.int64)
    for i, v in enumerate(outputs):
        try:
            k = _key(v)
            c = table.get(k)
        except TypeError:  # unhashable (a list): never equal to anything else here
            k, c = None, None
        if c is None:
            c = len(values)
            if k is not None:
                table[k] = c
            values.append(v)
        remap[i] = c
    return remap, values


def map_column(fn: Callable[..., Any], columns: Sequence[Column]) -> Column:
    """Apply `fn` elementwise to zipped columns, once per distinct tuple of input values.

    If `fn` fails, it fails on the first failing position in reading order, as the original
    (which maps position by position) does, so the error names the same value."""
    try:
        return _map_distinct(fn, columns)
    except Exception:
        _first_failure(fn, columns)
        raise


def _first_failure(fn: Callable[..., Any], columns: Sequence[Column]) -> None:
    """Re-run `fn` on distinct inputs in order of first appearance; raises the first error."""
    combined = np.zeros_like(columns[0].codes)
    for col in columns:
        combined = combined * len(col.values) + col.codes
    _, first = np.unique(combined.ravel(), return_index=True)
    for pos in np.sort(first):
        b, i = divmod(int(pos), combined.shape[1])
        fn(*(col.values[col.codes[b, i]] for col in columns))


def _map_distinct(fn: Callable[..., Any], columns: Sequence[Column]) -> Column:
    if len(columns) == 1:
        col = columns[0]
        remap, values = _dedupe([fn(v) for v in col.values])
        return Column(remap[col.codes], values)
    combined = np.zeros_like(columns[0].codes)
    size = 1
    for col in columns:
        combined = combined * len(col.values) + col.codes
        size *= len(col.values)
    if size <= 4 * combined.size + 1024:
        present = np.flatnonzero(np.bincount(combined.ravel(), minlength=size))
        inverse = None
    else:
        present, inverse = np.unique(combined, return_inverse=True)
    args = _unflatten(present, [len(c.values) for c in columns])
    outputs = [fn(*(col.values[i] for col, i in zip(columns, idx, strict=True)))
               for idx in zip(*args, strict=True)]
    remap, values = _dedupe(outputs)
    if inverse is None:
        lookup = np.zeros(size, dtype=np.int64)
        lookup[present] = remap
        return Column(lookup[combined], values)
    return Column(remap[inverse.reshape(combined.shape)], values)


def _unflatten(flat: np.ndarray, sizes: list[int]) -> list[list[int]]:
    parts = []
    for s in reversed(sizes):
        parts.append((flat % s).tolist())
        flat = flat // s
    return parts[::-1]


def compact(col: Column) -> Column:
    """Drop table entries that no position uses (so later maps never see phantom values)."""
    used = np.bincount(col.codes.ravel(), minlength=len(col.values)) > 0
    if used.all():
        return col
    new_codes = np.cumsum(used) - 1
    return Column(new_codes[col.codes], [v for v, u in zip(col.values, used, strict=True) if u])


def row_type(classes: np.ndarray) -> str:
    """The original's type label for one sequence, from the type classes of its values."""
    present = set(classes.tolist())
    if present == {STR}:
        return "strings"
    if present == {BOOL}:
        return "bools"
    if present <= {BOOL, INT}:
        return "ints"
    return "floats"


def check_homogeneous(col: Column, tokens: bool = False) -> None:
    """Every sequence must be all str, all bool, all int, or int/float mixed (the original).
    `tokens`: the column is an input's (its values are printed as a list, not a tuple)."""
    classes = col.classes()
    kinds = set(classes.tolist())
    if OTHER not in kinds and (kinds == {STR} or STR not in kinds):
        return
    per_pos = classes[col.codes]
    for b in range(col.codes.shape[0]):
        row = set(per_pos[b].tolist())
        if OTHER not in row and not (STR in row and len(row) > 1):
            continue
        # The original's maps and aggregates hold tuples of values, its inputs lists.
        vals = [col.values[c] for c in col.codes[b]]
        shown = vals if tokens else tuple(vals)
        if OTHER in row:
            raise RaspTypeError(
                "attempted to create sequence with illegal val types (vals must be bool, "
                f"float, int or string):\n\t\t {shown}")
        raise RaspTypeError(
            f"attempted to create sequence with vals of different types:\n\t\t {shown}")


_ORDER_OPS = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
              ">": np.greater, ">=": np.greater_equal}


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
        table = np.array([[bool(pred(kv, qv)) for qv in queries.values] for kv in keys.values],
                         dtype=bool).reshape(len(keys.values), len(queries.values))
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
    return (np.array([order[v] for v in a], dtype=np.int32),
            np.array([order[v] for v in b], dtype=np.int32))


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
    """Mean over selected keys; one selected key passes its value through; none gives default."""
    counts = sel.sum(axis=-1)
    single_codes = np.take_along_axis(col.codes, sel.argmax(axis=-1), axis=-1)
    codes = np.where(counts == 1, single_codes, len(col.values))  # else: default's code
    values = [*col.values, default]
    multi = counts >= 2
    if multi.any():
        # The original averages only numbers: not strings, and not a sequence of bools only.
        per_pos = col.classes()[col.codes]
        numbers = np.isin(per_pos, (BOOL, INT, FLOAT)).all(axis=-1) & ~(per_pos == BOOL).all(
            axis=-1)
        bad = multi.any(axis=-1) & ~numbers
        if bad.any():
            b = int(np.argmax(bad))
            vals = [col.values[c] for c in col.codes[b]]
            raise RaspEvalError(
                f"asked to average multiple values, but they are non-numbers: {vals}")
        means = _means(sel, col, multi, counts)
        uniq, inverse = np.unique(means, return_inverse=True)
        codes[multi] = len(values) + inverse
        values += uniq.tolist()
    return compact(Column(codes, values))


def _means(sel: np.ndarray, col: Column, multi: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The original's `sum(selected) * 1.0 / n` at the `multi` positions, bit for bit. Python
    sums left to right, so the selected values are accumulated one key at a time in float64 -
    unless every partial sum is exact whatever the order (ints, halves, ... below 2**53): then
    one matmul gives the same bits. Ints too large for that take Python's own sum."""
    limit = 2 ** 53 // max(1, col.codes.shape[1])
    nums = np.zeros(len(col.values))
    has_float = False
    for i, v in enumerate(col.values):
        if type(v) in (int, bool) and abs(v) >= limit:
            return _python_means(sel, col, multi)
        if type(v) in (int, bool, float):
            nums[i] = v
            has_float = has_float or type(v) is float
    rows = np.flatnonzero(multi.any(axis=-1))
    x = nums[col.codes[rows]]  # [R, k]
    picked = sel[rows]
    if not has_float or _sums_exact(nums, limit):
        total = np.matmul(picked.astype(np.float64), x[:, :, None])[..., 0]
    else:
        total = np.empty(picked.shape[:2])
        step = max(1, (1 << 22) // max(1, picked.shape[1] * picked.shape[2]))
        for start in range(0, len(rows), step):  # accumulate is sequential, left to right
            part = np.where(picked[start:start + step], x[start:start + step, None, :], 0.0)
            with np.errstate(invalid="ignore"):  # inf + -inf is nan, as in Python
                total[start:start + step] = np.add.accumulate(part, axis=-1)[..., -1]
    total += 0.0  # Python's sum starts from 0: a sum of -0.0s is 0.0
    return total[multi[rows]] / counts[rows][multi[rows]]


def _sums_exact(nums: np.ndarray, limit: int) -> bool:
    """Whether every sum of up to k of these values is exact in float64: all are multiples of
    one power of two 2**-e (e <= 16) with scaled magnitudes below `limit` (= 2**53 / k)."""
    if not np.isfinite(nums).all() or (np.signbit(nums) & (nums == 0)).any():
        return False  # inf and nan propagate by order; -0.0 sums to 0.0 from Python's start
    for e in (0, 1, 2, 4, 8, 16):
        scaled = nums * float(2 ** e)
        if (scaled == np.round(scaled)).all():
            return bool(np.abs(scaled).max(initial=0.0) < limit)
    return False


def _python_means(sel: np.ndarray, col: Column, multi: np.ndarray) -> np.ndarray:
    out = []
    for b, q in zip(*np.nonzero(multi), strict=True):
        vals = [col.values[c] for c, s in zip(col.codes[b], sel[b, q], strict=True) if s]
        out.append(sum(vals) * 1.0 / len(vals))  # an int beyond float raises OverflowError
    return np.array(out, dtype=np.float64)


# ---- graph evaluation ---------------------------------------------------------------------------


def _locate(err: RaspError, node: ir.IRNode, roots: list[ir.IRNode]) -> RaspError:
    """Point the error at the failing node, or (a token conversion has no source) at the
    nearest expression that reads it; inside the library or another file, also name the
    nearest place in the program evaluated (`roots`' file) that uses it."""
    if err.line is not None:
        return err
    chain = _users(node, roots)
    at = next((n for n in chain if n.span is not None and n.span.line), None)
    if at is None:
        return err
    err.located(at.span.line, at.span.column, at.path, at.span.line_text)
    home = roots[0].path
    if at.path != home:
        user = next((n for n in chain if n.path == home and n.span is not None
                     and n.span.line), None)
        if user is not None:
            err.note(f"used at {user.where()}: {user.span.text.splitlines()[0]}")
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
    err = RaspEvalError(str(message))
    err.detail = f"in `{node.label}`"
    return _locate(err, node, roots)


def evaluate_nodes(roots: list[ir.IRNode], inputs: Sequence[Sequence[Any]],
                   memo: dict[int, Column | np.ndarray] | None = None
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
        except (ArithmeticError, TypeError, ValueError, IndexError, KeyError,
                AttributeError, OverflowError) as exc:
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
            return Column(np.broadcast_to(np.arange(shape[1]), shape).copy(),
                          list(range(shape[1])))
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
                longest = int(MAX_SELECTOR_CELLS ** 0.5)
                raise RaspEvalError(
                    f"input of {n:,} tokens is too long: a selector over it needs {n * n:,} "
                    f"cells (the limit is {MAX_SELECTOR_CELLS:,}, inputs of {longest:,} tokens)")
            chunk = max(1, MAX_SELECTOR_CELLS // (n * n))
        for start in range(0, len(members), chunk):
            part = members[start:start + chunk]
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
            v.codes.size if isinstance(v, Column) else v.size for v in added)
        if self._cells[key] > self.MAX_CELLS:  # a long session on a long example: bound it
            memo.clear()
            self._cells[key] = 0
        return value.rows()[0] if isinstance(value, Column) else value.tolist()[0]
