"""Printing values exactly as the original RASP REPL does (tabs and spacing included)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rasp import ir
from rasp.build import Applied, Function
from rasp.columns import row_type, type_class


def small_str(v: Any) -> str:
    if isinstance(v, bool):
        return "T" if v else "F"
    if isinstance(v, float):
        return str(round(v, 3))
    return str(v)


def sequence_type(values: list[Any]) -> str:
    return row_type(np.array([type_class(v) for v in values]))


def sequence_body(values: list[Any]) -> str:
    """`[1, 2, 3]`, or `[4]*3` when every value is equal."""
    if len(values) > 1 and len(set(values)) == 1:
        return f"[{small_str(values[0])}]*{len(values)}"
    return "[" + ", ".join(small_str(v) for v in values) + "]"


def format_sequence(values: list[Any]) -> str:
    """`[1, 2, 3] (ints)`, or `[4]*3 (ints)` when every value is equal."""
    return f"{sequence_body(values)} ({sequence_type(values)})"


def format_matrix(tokens: list[Any], rows: list[list[bool]], indent: str = " \t\t\t") -> str:
    """A selector: a header of the input, then one row per query (1 = selected)."""
    lines = [f"{indent}     " + " ".join(str(t) for t in tokens)]
    for tok, row in zip(tokens, rows, strict=True):
        lines.append(f"{indent} {tok} | " + " ".join("1" if c else " " for c in row))
    return "\n".join(lines)


def _minority_bools(values: list[Any]) -> list[Any]:
    """Bools show only the rarer value (both on a tie), as the original's full display does."""
    if not values or not isinstance(values[0], bool):
        return values
    trues = values.count(True)
    falses = len(values) - trues
    t = "T" if trues <= falses else ""
    f = "F" if falses <= trues else ""
    return [t if v else f for v in values]


def format_full_display(tokens: list[Any], values: list[Any], pref: str = "") -> str:
    """`full seq display on`: input and output as two rows, every cell right-aligned to the
    widest one. As in the original, the input row is always typed `strings` and floats are
    not rounded."""
    inp = [str(v) for v in _minority_bools(list(tokens))]
    out = [str(v) for v in _minority_bools(list(values))]
    width = max(len(c) for c in inp + out)
    row = lambda cells: " ".join(c.rjust(width) for c in cells)
    return (
        f"{pref} \t\tinput:   {row(inp)} \t (strings)\n"
        f"{pref} \t\toutput:  {row(out)} \t ({sequence_type(values)})"
    )


def all_identical(values: list[Any]) -> bool:
    """The full display is skipped for a sequence of one repeated value (or of length 1)."""
    return len(set(values)) == 1


SKIPPED_FULL_DISPLAY = "[skipped full display: identical values]"


def format_example_arg(x: list[Any] | str) -> str:
    """How the REPL shows an example input: strings quoted, lists as Python lists."""
    if isinstance(x, str):
        return f'"{x}"'
    return str(x)


def format_applied(result: Applied, full: bool = False) -> str:
    """`f(input)` at the prompt: `\t =  [..] (type)` or the selector matrix."""
    if isinstance(result.node, ir.Selector):
        return "\t = \n" + format_matrix(result.input, result.value)
    if full and all_identical(result.value):
        return f"\t =   {format_sequence(result.value)} {SKIPPED_FULL_DISPLAY}"
    if full:
        return "\t = \n" + format_full_display(result.input, result.value)
    return "\t =  " + format_sequence(result.value)


def format_plain(value: Any) -> str:
    """An atom as the REPL echoes it: strings quoted, bools as True/False."""
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def is_flat(value: list | dict) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return not any(isinstance(v, list | dict | ir.IRNode | Function | Applied) for v in items)
