"""The environment: runs RASP statements, building the IR graph of s-ops and selectors.

Plain values (numbers, strings, lists, dicts) are computed eagerly; s-ops and selectors are IR
nodes, computed later by `rasp.interpreter` (or compiled). Scoping follows the original
(`rasp.scope`); operators build IR by `rasp.build`, the builtins by `rasp.values`, and files
are read by `rasp.source`.

Two behaviours of the original's REPL are the language's here, so that any host gets them:
the running example (`Environment.example`: while set, every new s-op and selector is tried
on it at once, and `set example` in a loaded file changes it) and loads that keep going
(`keep_going`: a loaded file's errors are collected in its `Echo.errors`, the rest still runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rasp import ast, ir
from rasp.build import Function, describe
from rasp.errors import RaspError, RaspEvalError, RaspSyntaxError, RaspTypeError
from rasp.evaluate import Evaluator, locate
from rasp.parser import parse_expression, parse_program, read_statements
from rasp.scope import Scope
from rasp.source import LIBRARY_PATH, file_origin, read_source, resolve_load, stdlib, to_python
from rasp.values import iterable, unpack


@dataclass
class Echo:
    """What a statement produced, for a host to show: its kind, the names it bound, its value.

    kind    value
    expr    the value (names: ("out",))
    assign  the value, or the list of values of `a, b = ...` (names: one per value)
    function, load, draw, command, none: the `Function`; the loaded file's echoes; (s-op,
            input); a `set example`'s example (None for other commands or without a running
            example); None
    `errors` are a load's errors (nested loads' included) when the environment keeps going.
    """

    kind: str  # 'expr' 'assign' 'function' 'load' 'draw' 'command' 'none'
    names: tuple[str, ...] = ()
    value: Any = None
    statement: ast.Node | None = None
    errors: tuple[RaspError, ...] = ()

    def bindings(self) -> list[tuple[str, Any]]:
        """The (name, value) pairs an assignment or a `def` bound; none for other kinds."""
        if self.kind == "assign":
            values = [self.value] if len(self.names) == 1 else self.value
            return list(zip(self.names, values, strict=True))
        if self.kind == "function":
            return [(self.names[0], self.value)]
        return []


class Environment(Evaluator):
    """A RASP session: the standard library, the user's names, statements and the API."""

    def __init__(self, keep_going: bool = False) -> None:
        super().__init__()
        self.keep_going = keep_going  # a loaded file's errors are collected, the rest runs
        self._run_in(stdlib(), self.base, origin="stdlib", path=LIBRARY_PATH)
        self.base.vars.pop("out", None)
        self.library_names = frozenset(self.base.vars) - {"tokens"}
        self.top = Scope(parent=self.base)
        # The original's REPL starts by running `tokens = tokens_str;`, so `out` is that.
        self.top.vars["out"] = self.constants["tokens_str"]

    # ---- public API -----------------------------------------------------------------------

    def run(self, source: str, path: str | None = None) -> list[Echo]:
        """Run a program's statements in the session's scope; returns what each produced."""
        statements = parse_program(source, path)
        origin = "console" if path is None else file_origin(path)
        return self._run_in(statements, self.top, origin=origin, path=path)

    def run_file(self, path: str) -> list[Echo]:
        return self.run(read_source(path), path)

    def execute(self, statement: ast.Node, path: str | None = None) -> Echo:
        """Run one parsed statement at top level (the REPL's unit of work)."""
        return self._exec(statement, self.top, origin="console", path=path)

    def expression(self, text: str) -> Any:
        """Evaluate an expression's text to a value: an IR node, a function or a plain value."""
        return self._eval(parse_expression(text), self.top, path=None)

    def evaluate(self, expr: str, input: Any = None) -> Any:
        """The value of `expr` on one input (lists; selectors as rows), or a plain value."""
        value = self.expression(expr)
        if input is None:
            if isinstance(value, ir.IRNode):
                raise RaspTypeError(f"{describe(value)} is an s-op or selector: give an input")
            return to_python(value)
        return self._apply(value, [input])[0]

    def evaluate_batch(self, expr: str, inputs: Sequence[Any]) -> list[Any]:
        """`evaluate` on many inputs in one vectorised pass (ragged lengths allowed)."""
        return self._apply(self.expression(expr), list(inputs))

    def names(self) -> dict[str, Any]:
        """Every name visible at top level (constants, library, user), for completion."""
        found = dict(self.constants)
        for scope in (self.base, self.top):
            found.update(scope.vars)
        return found

    # ---- statements -------------------------------------------------------------------------

    def _run_in(
        self, statements: list[ast.Node], scope: Scope, origin: str, path: str | None
    ) -> list[Echo]:
        echoes = []
        for s in statements:  # a loop, not a comprehension: one frame less per call level
            echoes.append(self._exec(s, scope, origin, path))
        return echoes

    def _exec(self, stmt: ast.Node, scope: Scope, origin: str, path: str | None) -> Echo:
        try:
            return self._exec_inner(stmt, scope, origin, path)
        except RaspError as err:
            raise locate(err, stmt.span, path) from None
        except RecursionError:
            raise locate(
                RaspEvalError("maximum recursion depth exceeded"), stmt.span, path
            ) from None

    def _exec_inner(self, stmt, scope: Scope, origin: str, path: str | None) -> Echo:
        match stmt:
            case ast.ExprStmt(expr=expr):
                value = self._eval(expr, scope, path)
                return Echo("expr", ("out",), value, stmt)
            case ast.Assign(names=names, values=exprs):
                values = [self._eval(e, scope, path) for e in exprs]
                values = unpack(names, values)
                for name, v in zip(names, values, strict=True):
                    self._bind(scope, name, v)
                    if isinstance(v, ir.IRNode):
                        self.display.set(v, name)
                shown = values[0] if len(names) == 1 else values
                return Echo("assign", tuple(names), shown, stmt)
            case ast.FuncDef():
                fn = Function(
                    stmt.name, stmt.params, stmt.body, stmt.returns, scope, origin, path, stmt.span
                )
                self._bind(scope, stmt.name, fn)
                return Echo("function", (stmt.name,), fn, stmt)
            case ast.ForLoop():
                self._for(stmt, scope, origin, path)
                return Echo("none", statement=stmt)
            case ast.Load(path=target):
                echoes, errors = self._load(target, scope, path)
                return Echo("load", (target,), echoes, stmt, tuple(errors))
            case ast.Draw(expr=expr, example=example):
                # The s-op is checked on the input it is drawn on (the original's backup).
                ex = self._eval(example, scope, path) if example is not None else None
                backup, self._backup = self._backup, ex
                try:
                    value = self._eval(expr, scope, path)
                finally:
                    self._backup = backup
                if not isinstance(value, ir.SOp):
                    raise RaspTypeError(f"draw expects unfinished sequence, got: {describe(value)}")
                return Echo("draw", (value.label,), (value, ex), stmt)
            case ast.ReplCommand():
                example = None
                if stmt.command == "set_example" and stmt.value and self.example is not None:
                    example = self._set_example(stmt.value, stmt.kind, scope, path)
                return Echo("command", (stmt.command,), example, stmt)
            case ast.Comment():
                return Echo("none", statement=stmt)
        raise RaspSyntaxError(f"unexpected statement {type(stmt).__name__}")  # pragma: no cover

    def _set_example(
        self, value: ast.Node, kind: str | None, scope: Scope, path: str | None
    ) -> Any:
        """`set [s-op|selector] example X`: X's value; an s-op example becomes the running
        example at once (a loaded file's next statements are checked on it)."""
        example = self._eval(value, scope, path)
        if not isinstance(example, str | list | dict):
            raise RaspTypeError(f"example not iterable: {describe(example)}")
        if kind in (None, "s-op"):
            self.example = example
        return example

    def _for(self, stmt: ast.ForLoop, scope: Scope, origin: str, path: str | None) -> None:
        source = iterable(
            self._eval(stmt.source, scope, path),
            "for loop needs to iterate over a list or dict, but got",
            str,
        )
        for item in source:
            for name, v in zip(stmt.names, unpack(stmt.names, [item]), strict=True):
                self._bind(scope, name, v)
            self._run_in(stmt.body, scope, origin, path)

    def _load(
        self, target: str, scope: Scope, path: str | None
    ) -> tuple[list[Echo], list[RaspError]]:
        """Run a file in its own scope: its echoes, and (keeping going) the errors it met,
        its nested loads' first, in the order they happened."""
        file = resolve_load(target, path)
        source = read_source(file)
        try:
            statements: list[Any] = parse_program(source, file)
        except RaspSyntaxError:
            if not self.keep_going:
                raise
            statements = read_statements(source, file)  # report it, run the rest (original)
        file_scope = Scope(parent=self.base, exports=scope)
        echoes: list[Echo] = []
        errors: list[RaspError] = []
        for s in statements:
            try:
                if isinstance(s, RaspError):
                    raise s
                echo = self._exec(s, file_scope, file_origin(file), file)
                errors += echo.errors
                echoes.append(echo)
            except RaspError as err:
                if not self.keep_going:
                    raise
                errors.append(err)
        return echoes, errors
