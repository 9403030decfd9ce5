"""Expressions: how RASP evaluates them, calls functions and applies s-ops.

`Evaluator` holds what evaluation needs (the constants, the library's scope, the names
shown for nodes, the running example) and `env.Environment` adds statements on top. As in
the original, every s-op or selector an expression makes is tried on the running example
at once, and every value but an applied s-op becomes `out`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasp import ast, ir
from rasp.build import DESC_CAP, Applied, Builder, Function, Names, describe
from rasp.errors import RaspError, RaspEvalError, RaspNameError, RaspSyntaxError, RaspTypeError
from rasp.interpreter import ExampleMemo, evaluate_batch
from rasp.scope import RESERVED_NAMES, Scope
from rasp.source import normalise_input, to_python
from rasp.values import builtin, iterable, make_dict, unpack

MAX_CALL_DEPTH = 120  # the original recursed 108 deep before Python's own limit stopped it


class Evaluator(ABC):
    """Evaluates expressions in scopes; a `def`'s body is run by the subclass's statements."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {
            f"tokens_{c}": ir.Tokens(conversion=c, name=f"tokens_{c}")
            for c in ("str", "int", "float", "bool", "asis")
        }
        self.constants["indices"] = ir.Indices(name="indices")
        self.constants["True"] = True
        self.constants["False"] = False
        self.base = Scope()  # the library's
        self.library_names: frozenset[str] = frozenset()
        self.display = Names()  # the original's names of s-ops and selectors (REPL echoes)
        for name, value in self.constants.items():
            if isinstance(value, ir.IRNode):
                self.display.set(value, name)
        # Values on the running examples, kept between statements (checks and echoes).
        self.examples = ExampleMemo()
        # The running example: while it is set, every s-op or selector an expression makes is
        # tried on it at once, as the original's REPL does (None: no check, as in a script).
        self.example: Any = None
        self._depth = 0
        self._backup: Any = None  # the input of `f(x)` while `f` is evaluated (the original's)

    @abstractmethod
    def _run_in(
        self, statements: list[ast.Node], scope: Scope, origin: str, path: str | None
    ) -> list[Any]:
        """Run statements in a scope (a function's body)."""

    def on_example(self, node: ir.IRNode, example: Any) -> Any:
        """`node` on one input, remembering the values of every node on it (the REPL's
        running examples: each new statement then costs only its new nodes)."""
        return self.examples.evaluate(node, normalise_input(example))

    def _check(self, value: ir.IRNode) -> None:
        """The original's test of a new s-op or selector: it must run on the input of the call
        being evaluated (`f(x)`: on x), else on the running example; the error is the one
        on x when both fail."""
        backup = self._backup
        if backup is not None:
            try:
                self.on_example(value, backup)
                return
            except RaspError:
                pass
        try:
            self.on_example(value, self.example)
        except RaspError as err:
            if backup is None:
                if value.span is not None and value.span.line:  # the expression, not `x = `
                    err.located(value.span.line, value.span.column)
                raise
            self.on_example(value, backup)  # raises the error on x
            raise

    def _bind(self, scope: Scope, name: str, value: Any, rename: bool = True) -> None:
        """Bind a name; an assigned s-op or selector takes the name (as in the original),
        a parameter does not."""
        reserved = name in RESERVED_NAMES or name in self.constants
        if not scope.in_function and name in self.library_names and scope is not self.base:
            reserved = True
        if reserved:
            raise RaspNameError(f"Cannot set reserved name: {name}")
        if rename and isinstance(value, ir.IRNode):
            value.name = name
        scope.set(name, value)

    def _eval(self, node: ast.Node, scope: Scope, path: str | None) -> Any:
        """An expression's value. As in the original, every s-op or selector made is tried on
        the running example at once, and every value but an applied s-op becomes `out`.
        (One function, not two: each RASP call level costs few Python frames.)"""
        ev = self._eval
        try:
            match node:
                case ast.Name(name=name):
                    value = self._lookup(name, scope)
                case ast.Const(value=value):
                    pass
                case ast.Call():
                    value = self._call(node, scope, path)
                case ast.BinOp(op="in", left=left, right=right):
                    value = Builder(self, node, path).contains(
                        ev(left, scope, path), ev(right, scope, path), right
                    )
                case ast.BinOp(op=op, left=left, right=right):
                    value = Builder(self, node, path).binary(
                        op, ev(left, scope, path), ev(right, scope, path)
                    )
                case ast.Ternary():
                    value = self._ternary(node, scope, path)
                case _:
                    value = self._compound(node, scope, path)
            if self.example is not None and isinstance(value, ir.IRNode):
                self._check(value)
        except RaspError as err:
            raise locate(err, node.span, path) from None
        if not isinstance(value, Applied):
            scope.vars["out"] = value
        return value

    def _lookup(self, name: str, scope: Scope) -> Any:
        if name in self.constants:
            return self.constants[name]
        return scope.lookup(name)

    def _ternary(self, node: ast.Ternary, scope: Scope, path: str | None) -> Any:
        c = self._eval(node.cond, scope, path)
        if isinstance(c, ir.SOp):
            return Builder(self, node, path).ternary(
                self._eval(node.then, scope, path), c, self._eval(node.other, scope, path)
            )
        if isinstance(c, ir.Selector):
            raise RaspTypeError("a selector cannot be the condition of a ternary")
        return self._eval(node.then if c else node.other, scope, path)

    def _compound(self, node: ast.Node, scope: Scope, path: str | None) -> Any:
        def ev(n: ast.Node) -> Any:
            return self._eval(n, scope, path)

        build = Builder(self, node, path)
        match node:
            case ast.ListExpr(items=items):
                return [ev(i) for i in items]
            case ast.DictExpr(pairs=pairs):
                return make_dict(((ev(k), ev(v)) for k, v in pairs), self.display)
            case ast.Comprehension():
                return self._comprehension(node, scope, path)
            case ast.UnaryOp(op=op, operand=operand):
                return build.unary(op, ev(operand))
            case ast.Index(target=target, index=index):
                return build.index(ev(target), ev(index), _shown_name(target), _shown_name(index))
            case ast.Select(keys=keys, queries=queries, op=op):
                return build.select(ev(keys), ev(queries), op)
            case ast.Aggregate(selector=sel, sop=sop, default=default):
                selector, values = ev(sel), ev(sop)
                return build.aggregate(selector, values, ev(default) if default is not None else 0)
            case ast.Builtin(name=name, args=args):
                return builtin(name, [ev(a) for a in args], self.display)
        raise RaspSyntaxError(f"unexpected expression {type(node).__name__}")  # pragma: no cover

    def _comprehension(self, node: ast.Comprehension, scope: Scope, path: str | None) -> Any:
        kind = "list" if node.key is None else "dict"
        source = iterable(
            self._eval(node.source, scope, path),
            f"{kind} comprehension should have got a list or dict to loop over, but got",
            self.display.desc,
        )
        inner = Scope(parent=scope, in_function=True)
        items = []
        for item in source:
            for name, v in zip(node.names, unpack(node.names, [item]), strict=True):
                inner.vars[name] = v
            if node.key is None:
                items.append(self._eval(node.elem, inner, path))
            else:
                key = self._eval(node.key, inner, path)
                items.append((key, self._eval(node.elem, inner, path)))
        return items if node.key is None else make_dict(items, self.display)

    def _call(self, node: ast.Call, scope: Scope, path: str | None) -> Any:
        """`f(args)` or `sop(input)`. With one argument, the original evaluates it first and
        checks what `f` names on it (so `tokens_int([1, 2])` passes with "hello" running)."""
        args = node.args
        backup = self._backup
        first = self._eval(args[0], scope, path) if len(args) == 1 else None
        if len(args) == 1:
            self._backup = first
        try:
            fn = self._eval(node.func, scope, path)
        finally:
            self._backup = backup
        if len(args) == 1:
            values = [first]
            if not isinstance(first, Applied):  # the original evaluates it again: `out` is it
                scope.vars["out"] = first
        else:
            values = [self._eval(a, scope, path) for a in args]
        if isinstance(fn, Function):
            return self._call_function(fn, values, node, path)
        if isinstance(fn, ir.IRNode):
            if len(values) != 1:
                raise RaspTypeError(
                    "wrong number of args for evaluate unfinished- expected: 1, "
                    f"got: {len(values)}."
                )
            return Applied(fn, list(normalise_input(values[0])), self._apply(fn, values)[0])
        err = RaspTypeError(f"{describe(fn)} is not a function or an s-op: it cannot be called")
        err.kind = "notimpl"
        raise err

    def _call_function(
        self, fn: Function, args: list[Any], node: ast.Node, path: str | None
    ) -> Any:
        if len(args) != len(fn.params):
            raise RaspTypeError(
                f"wrong number of args for {fn.name}- expected: {len(fn.params)}, got: {len(args)}."
            )
        if self._depth >= MAX_CALL_DEPTH:
            raise RaspEvalError("maximum recursion depth exceeded")
        scope = Scope(parent=fn.closure, in_function=True)
        for p, a in zip(fn.params, args, strict=True):
            self._bind(scope, p, a, rename=False)
        self._depth += 1
        backup, self._backup = self._backup, None  # a function body checks on the example
        try:
            self._run_in(fn.body, scope, fn.origin, fn.path)
            results = []
            for r in fn.returns:
                results.append(self._eval(r, scope, fn.path))
        except RaspError as err:
            raise _called_from(err, fn, node, path) from None
        finally:
            self._depth -= 1
            self._backup = backup
        result = results[0] if len(results) == 1 else results
        if isinstance(result, ir.IRNode):
            if result.name is None:
                result.name = f"{fn.name}({', '.join(describe(a) for a in args)})"
            self.display.set(
                result,
                f"{fn.name}(" + " , ".join(self.display.desc(a, DESC_CAP) for a in args) + ")",
            )
        return result

    def _apply(self, value: Any, inputs: list[Any]) -> list[Any]:
        if not isinstance(value, ir.IRNode):
            return [to_python(value) for _ in inputs]
        return evaluate_batch(value, [normalise_input(x) for x in inputs])


# ---- helpers --------------------------------------------------------------------------------


def _shown_name(node: ast.Node) -> str:
    """How the original names an indexed value or an index: by its variable, else `out`."""
    return node.name if isinstance(node, ast.Name) else "out"


def _called_from(err: RaspError, fn: Function, node: ast.Node, path: str | None) -> RaspError:
    """An error inside a function defined elsewhere (the library, a loaded file, an earlier
    input) also says where the call is."""
    span = node.span
    if (
        err.line is not None
        and span is not None
        and span.line
        and (err.path != path or err.line < span.line or err.line > span.end_line)
    ):
        where = (
            f"{path}:{span.line}:{span.column}"
            if path
            else f"line {span.line}, column {span.column}"
        )
        err.note(f"in {fn.name}, called from {where}: {span.text.splitlines()[0]}")
    return err


def locate(err: RaspError, span: ast.Span | None, path: str | None) -> RaspError:
    if span is not None and span.line:
        # The whole line, from a file (a REPL input is shown from the input the REPL holds).
        err.located(span.line, span.column, path, span.line_text if path else None)
    elif path and err.path is None and err.line is None:
        err.path = path
    return err
