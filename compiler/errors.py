"""`CompileError`: a program (or part of one) that cannot be lowered to exact weights.

It is a `RaspError`, so the CLI prints it as one line with the source location of the
expression that could not be compiled, never as a traceback.
"""

from __future__ import annotations

from rasp import ir
from rasp.errors import RaspError


class CompileError(RaspError):
    """Names the expression, its file:line:col and why it cannot be compiled exactly."""

    def __init__(self, message: str, node: ir.IRNode | None = None, precision: bool = False):
        where = f"`{node.label}`: " if node is not None else ""
        super().__init__(f"cannot compile {where}{message}")
        self.node = node
        self.precision = precision  # the model's float type is too coarse: a wider one may do
        if node is not None:
            span = node.span
            if span is not None and span.line:
                # the whole source line, so that the caret sits under the expression's start
                self.located(span.line, span.column, node.path, span.line_text)
            elif node.path:
                self.path = node.path
