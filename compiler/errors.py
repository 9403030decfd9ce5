"""`CompileError`: a program (or part of one) that cannot be lowered to exact weights.

It is a `RaspError`, so the CLI prints it as one line with the source location of the
expression that could not be compiled, never as a traceback; below the quoted line, a
`hint:` says what rewrite of the program would compile (each kind of refusal has its own).
"""

from __future__ import annotations

import textwrap

from rasp import ir
from rasp.errors import RaspError


class CompileError(RaspError):
    """Names the expression, its file:line:col and why it cannot be compiled exactly."""

    def __init__(
        self,
        message: str,
        node: ir.IRNode | None = None,
        precision: bool = False,
        hint: str | None = None,
    ):
        where = f"`{node.label}`: " if node is not None else ""
        super().__init__(f"cannot compile {where}{message}")
        self.node = node
        self.precision = precision  # the model's float type is too coarse: a wider one may do
        self.hint = hint  # what rewrite would compile
        if hint:  # wrapped to fit 80 columns under the quoted line
            for line in textwrap.wrap(f"hint: {hint}", 76, subsequent_indent="      "):
                self.note(line)
        if node is not None:
            span = node.span
            if span is not None and span.line:
                # the whole source line, so that the caret sits under the expression's start
                self.located(span.line, span.column, node.path, span.line_text)
            elif node.path:
                self.path = node.path


# Hints shared by several refusals (each names a rewrite that compiles).
FEWER_VALUES = (
    "make it take fewer values before this point: round or compare a mean "
    "(`round(m * n)`, `m > 0.5`), count with `selector_width(...)` instead of "
    "averaging 0/1 values, or compile with a smaller --max-len"
)
PRECISION = (
    "keep numbers few and far apart: count with `selector_width(...)` rather than "
    "`1 / aggregate(...)`, compare means with a `select` instead of subtracting "
    "them, or compile with a smaller --max-len"
)
SPLIT = (
    "split it into steps that read fewer values each: first map every input to the few "
    "classes the result depends on (a comparison, `min(x, k)`, a dictionary), then "
    "combine those; or compile with a smaller --max-len"
)
TYPES = (
    "fix the number's type before this point: `round(x)` is always an int, `x + 0.0` always a float"
)
RAISES = "guard it so that it has a value everywhere: `f(x) if ok(x) else d`"
ROUNDED = (
    "round the number to the precision the program needs before this point "
    "(`round(x * 1000) / 1000`), or compute it from counts (`selector_width(...)`) "
    "instead of means"
)
