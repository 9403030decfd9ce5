"""How the REPL echoes what a statement produced, character for character as the original.

The original builds these lines with `print(a, b, c)` (single spaces between the parts), so the
odd spacing below (`     s-op: x`, `    value: n =  3`) is its, kept so transcripts match.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rasp import ast, ir
from rasp.build import Applied, Function
from rasp.env import Echo
from rasp.format import (
    SKIPPED_FULL_DISPLAY,
    all_identical,
    format_applied,
    format_example_arg,
    format_full_display,
    format_matrix,
    format_sequence,
    is_flat,
)


@dataclass
class Settings:
    """The running examples and display switches (`set example`, `examples off`, ...)."""

    sop_example: Any = "hello"
    selector_example: Any = "hello"
    full_display: bool = False
    sop_examples: bool = True
    selector_examples: bool = True
    # A loaded file's path → the name it was loaded by (`load "lib/dyck";` → "lib/dyck"): the
    # original calls a function's origin by that name.
    load_names: dict[str, str] = field(default_factory=dict)


def quoted(value: Any) -> str:
    """The original's `formatstr`: strings in double quotes, everything else as `str`."""
    return f'"{value}"' if isinstance(value, str) else str(value)


def select_str(rows: list[list[bool]]) -> str:
    """A selector's value when it is printed as a plain value (the original's `Select.__str__`)."""
    d = {i: [int(c) for c in row] for i, row in enumerate(rows)}
    text = str(d)
    return "\n" + pprint.pformat(d) if len(text) > 40 else text


def value_str(value: Any) -> str:
    if isinstance(value, Applied):
        if isinstance(value.node, ir.Selector):
            return select_str(value.value)
        return format_sequence(value.value)
    return quoted(value)


class Echoer:
    """Turns a statement's `Echo` into the lines the original prints.

    `evaluate(node, example)` runs an s-op or selector on one input; it may raise a RaspError
    part-way through, after some lines were produced: callers keep `lines` and add the error,
    as the original (which prints as it goes) does.
    """

    def __init__(
        self,
        settings: Settings,
        evaluate: Callable[[ir.IRNode, Any], Any],
        name_of: Callable[[ir.IRNode], str] | None = None,
    ):
        self.settings = settings
        self.evaluate = evaluate
        # The name an unnamed s-op or selector is shown by (the original's names, by default
        # the node's label).
        self.name_of = name_of or (lambda node: node.label)
        self.lines: list[str] = []

    def echo(self, e: Echo) -> None:
        match e.kind:
            case "expr" if isinstance(e.value, Applied) and isinstance(
                getattr(e.statement, "expr", None), ast.Call
            ):
                self.lines.append(format_applied(e.value, self.settings.full_display))
            case "expr":
                expr = e.statement.expr if isinstance(e.statement, ast.ExprStmt) else None
                name = expr.name if isinstance(expr, ast.Name) else "out"
                self.named(name, e.value)
            case "assign" | "function":
                for name, value in e.bindings():
                    self.named(name, value)

    @staticmethod
    def public_names(e: Echo) -> list[tuple[str, Any]]:
        """The public names one statement of a loaded file bound (a load lists these)."""
        found = e.bindings()
        if e.kind == "expr" and isinstance(getattr(e.statement, "expr", None), ast.Name):
            found = [(e.statement.expr.name, e.value)]
        return [(n, v) for n, v in found if not n.startswith("_") and n != "out"]

    def named(self, name: str | None, val: Any, ntabs: int = 0, extra: str = "") -> None:
        """The original's `print_named_val`, recursive for lists and dicts."""
        pref = "\t" * ntabs
        if name is None and isinstance(val, ir.IRNode):
            name = self.name_of(val)
        s = self.settings
        if isinstance(val, ir.SOp):
            self.lines.append(f"{pref} {extra}    s-op: {name}")
            if s.sop_examples:
                self.sop_example(pref, name, val)
        elif isinstance(val, ir.Selector):
            self.lines.append(f"{pref} {extra}    selector: {name}")
            if s.selector_examples:
                self.lines.append(f"{pref} \t Example:")
                rows = self.evaluate(val, s.selector_example)
                self.lines.append(
                    format_matrix(list(s.selector_example), rows, indent=pref + " \t\t\t")
                )
        elif isinstance(val, Function):
            origin = self.settings.load_names.get(val.path or "", val.origin)
            self.lines.append(f"{pref} {extra}    {origin} function: {val.signature()}")
        elif isinstance(val, list | dict):
            self.container(name, val, pref, ntabs, extra)
        else:
            named = f"{name} = " if name is not None else ""
            self.lines.append(f"{pref}    value: {named} {value_str(val)}")

    def sop_example(self, pref: str, name: str | None, val: ir.SOp) -> None:
        s = self.settings
        values = self.evaluate(val, s.sop_example)
        head = f"{pref} \t Example: {name}({format_example_arg(s.sop_example)}) ="
        if not s.full_display:
            self.lines.append(f"{head} {format_sequence(values)}")
        elif all_identical(values):
            self.lines.append(f"{head} {format_sequence(values)} {SKIPPED_FULL_DISPLAY}")
        else:
            # The original shows the *selector* example as the input row here: kept.
            self.lines.append(f"{pref} \t Example:")
            self.lines.append(format_full_display(list(s.selector_example), values, pref))

    def container(
        self, name: str | None, val: list | dict, pref: str, ntabs: int, extra: str
    ) -> None:
        word = "list" if isinstance(val, list) else "dict"
        named = f"   {word}: " + (f"{name} = " if name is not None else "")
        head = f"{pref} {extra} {named}"
        if is_flat(val):
            self.lines.append(head + str(val))
            return
        if isinstance(val, list):
            self.lines.append(f"{head}{pref} [")
            for v in val:
                self.named(None, v, ntabs + 2)
            self.lines.append(pref + " " * (len(named) + 2) + "]")
        else:
            self.lines.append(f"{head}{pref} {{")
            for k, v in val.items():
                self.named(None, v, ntabs + 3, extra=quoted(k) + " : ")
            self.lines.append(pref + " " * (len(named) + 2) + "}")
