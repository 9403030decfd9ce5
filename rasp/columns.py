"""Columns: an s-op's values on a batch of inputs, as codes into a table of distinct values.

Elementwise operations apply the real Python function once per distinct value (or distinct
tuple of values) and gather, so they are vectorised and keep Python's exact semantics (banker's
`round`, true division, floor `%`, `"ab" * 2`, and Python's own errors). Sequences must be of one
type, as in the original.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasp.errors import RaspTypeError
from rasp.values import value_key

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


def _key(v: Any) -> tuple[tuple[type, Any], bool]:
    """`value_key`, and the sign of a float zero: the interpreter keeps what Python computes,
    and 0.0 and -0.0 print differently. (The compiler's numbers cannot carry that sign, so its
    value sets use `value_key` alone.)"""
    return (value_key(v), type(v) is float and v == 0 and math.copysign(1.0, v) < 0)


@dataclass
class Column:
    """An s-op's values on a batch: `values[codes[b, i]]` is position i of input b."""

    codes: np.ndarray  # int64 [B, n]
    values: list[Any]  # distinct by (type, value), each occurring somewhere in codes

    @staticmethod
    def from_rows(rows: Sequence[Sequence[Any]]) -> Column:
        """Encode equal-length inputs; strings are one token per character."""
        texts = [r for r in rows if type(r) is str]
        if len(texts) == len(rows):
            return _from_strings(texts)
        flat = [v for row in rows for v in row]
        kinds = set(map(type, flat))
        if len(kinds) == 1 and kinds <= {str, int, float}:
            try:
                arr = np.array(flat)
            except OverflowError:  # Python ints beyond int64
                arr = None
            if arr is not None and arr.dtype.kind == "f" and (np.signbit(arr) & (arr == 0)).any():
                arr = None  # np.unique would merge -0.0 with 0.0
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
    table: dict[tuple[tuple[type, Any], bool], int] = {}
    values: list[Any] = []
    remap = np.empty(len(outputs), dtype=np.int64)
    for i, v in enumerate(outputs):
        c = table.setdefault(_key(v), len(values))
        if c == len(values):
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
    outputs = [
        fn(*(col.values[i] for col, i in zip(columns, idx, strict=True)))
        for idx in zip(*args, strict=True)
    ]
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
                f"float, int or string):\n\t\t {shown}"
            )
        raise RaspTypeError(
            f"attempted to create sequence with vals of different types:\n\t\t {shown}"
        )
