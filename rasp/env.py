"""The environment: runs RASP statements, building the IR graph of s-ops and selectors.

Plain values (numbers, strings, lists, dicts) are computed eagerly; s-ops and selectors are IR
nodes, computed later by `rasp.interpreter` (or compiled). Scoping follows the original: scopes
chain to their parents, `def`s capture their scope and look free names up at call time, `load`
runs a file in a fresh scope under the library and copies its public names to the caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from . import ast, ir
from .build import DESC_CAP, Applied, Builder, Function, Names, describe, is_atom
from .errors import RaspError, RaspEvalError, RaspNameError, RaspSyntaxError, RaspTypeError
from .interpreter import ExampleMemo, evaluate_batch
from .parser import parse_expression, parse_program, read_statements

MAX_CALL_DEPTH = 120  # the original recursed 108 deep before Python's own limit stopped it
LIBRARY_PATH = "stdlib.rasp"
MAX_LIST = 1_000_000

CONSTANT_SOPS = ("tokens_str", "tokens_int", "tokens_float", "tokens_bool", "tokens_asis")
KEYWORD_NAMES = frozenset(
    "if else not and or out def return range for in zip len get".split())


@cache
def _stdlib() -> list[ast.Node]:
    """The standard library's statements, parsed once per process (the AST is never changed)."""
    return parse_program(resources.files("rasp").joinpath("stdlib.rasp").read_text(),
                         "stdlib.rasp")


@dataclass
class Scope:
    vars: dict[str, Any] = field(default_factory=dict)
    parent: Scope | None = None
    exports: Scope | None = None  # a loaded file's public names are copied here
    in_function: bool = False

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise RaspNameError(f"Undefined variable: {name}")

    def has(self, name: str) -> bool:
        try:
            self.lookup(name)
        except RaspNameError:
            return False
        return True

    def set(self, name: str, value: Any) -> None:
        self.vars[name] = value
        if self.exports is not None and not name.startswith("_") and name != "out":
            self.exports.set(name, value)


@dataclass
class Echo:
    """What a statement produced, for the REPL to print: kind, the bound name, the value."""

    kind: str  # 'expr' 'assign' 'function' 'load' 'draw' 'command' 'none'
    name: str | None = None
    value: Any = None
    statement: ast.Node | None = None


class Environment:
    """A RASP session: the standard library, the user's names, and evaluation of expressions."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {
            f"tokens_{c}": ir.Tokens(conversion=c, name=f"tokens_{c}")
            for c in ("str", "int", "float", "bool", "asis")}
        self.constants["indices"] = ir.Indices(name="indices")
        self.constants["True"] = True
        self.constants["False"] = False
        self.base = Scope()
        self.library_names: frozenset[str] = frozenset()
        self.display = Names()  # the original's names of s-ops and selectors (REPL echoes)
        for name, value in self.constants.items():
            if isinstance(value, ir.IRNode):
                self.display.set(value, name)
        # Values on the running examples, kept between statements (the REPL's checks and echoes).
        self.examples = ExampleMemo()
        # Called on every s-op/selector an expression produces (the REPL's running-example
        # check: the original tries each one on the example as soon as it is made).
        self.checker: Callable[[Any], None] | None = None
        # Called with errors inside loaded files; the default stops at the first one.
        self.on_load_error: Callable[[RaspError], None] | None = None
        # Called with the REPL commands of a loaded file (`set example`, `full seq display`).
        self.on_command: Callable[[ast.ReplCommand], Any] | None = None
        self._depth = 0
        self._backup: Any = None  # the input of `f(x)` while `f` is evaluated (the original's)
        self._run_in(_stdlib(), self.base, origin="stdlib", path=LIBRARY_PATH)
        self.base.vars.pop("out", None)
        self.library_names = frozenset(self.base.vars) - {"tokens"}
        self.top = Scope(parent=self.base)
        # The original's REPL starts by running `tokens = tokens_str;`, so `out` is that.
        self.top.vars["out"] = self.constants["tokens_str"]

    # ---- public API -----------------------------------------------------------------------

    def run(self, source: str, path: str | None = None) -> list[Echo]:
        """Run a program's statements in the session's scope; returns what each produced."""
        statements = parse_program(source, path)
        origin = "console" if path is None else _file_origin(path)
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

    def on_example(self, node: ir.IRNode, example: Any) -> Any:
        """`node` on one input, remembering the values of every node on it (the REPL's
        running examples: each new statement then costs only its new nodes)."""
        return self.examples.evaluate(node, normalise_input(example))

    def names(self) -> dict[str, Any]:
        """Every name visible at top level (constants, library, user), for completion."""
        found = dict(self.constants)
        for scope in (self.base, self.top):
            found.update(scope.vars)
        return found

    # ---- statements -------------------------------------------------------------------------

    def _run_in(self, statements: list[ast.Node], scope: Scope, origin: str,
                path: str | None) -> list[Echo]:
        echoes = []
        for s in statements:  # a loop, not a comprehension: one frame less per call level
            echoes.append(self._exec(s, scope, origin, path))
        return echoes

    def _exec(self, stmt: ast.Node, scope: Scope, origin: str, path: str | None) -> Echo:
        try:
            return self._exec_inner(stmt, scope, origin, path)
        except RaspError as err:
            raise _locate(err, stmt.span, path) from None
        except RecursionError:
            raise _locate(RaspEvalError("maximum recursion depth exceeded"),
                          stmt.span, path) from None

    def _exec_inner(self, stmt, scope: Scope, origin: str, path: str | None) -> Echo:
        match stmt:
            case ast.ExprStmt(expr=expr):
                value = self._eval(expr, scope, path)
                return Echo("expr", "out", value, stmt)
            case ast.Assign(names=names, values=exprs):
                values = [self._eval(e, scope, path) for e in exprs]
                values = _unpack(names, values)
                for name, v in zip(names, values, strict=True):
                    self._bind(scope, name, v)
                    if isinstance(v, ir.IRNode):
                        self.display.set(v, name)
                shown = values[0] if len(names) == 1 else values
                return Echo("assign", ", ".join(names), shown, stmt)
            case ast.FuncDef():
                fn = Function(stmt.name, stmt.params, stmt.body, stmt.returns, scope, origin,
                              path, stmt.span)
                self._bind(scope, stmt.name, fn)
                return Echo("function", stmt.name, fn, stmt)
            case ast.ForLoop():
                self._for(stmt, scope, origin, path)
                return Echo("none", statement=stmt)
            case ast.Load(path=target):
                loaded = self._load(target, scope, path)
                return Echo("load", target, loaded, stmt)
            case ast.Draw(expr=expr, example=example):
                # The s-op is checked on the input it is drawn on (the original's backup).
                ex = self._eval(example, scope, path) if example is not None else None
                backup, self._backup = self._backup, ex
                try:
                    value = self._eval(expr, scope, path)
                finally:
                    self._backup = backup
                if not isinstance(value, ir.SOp):
                    raise RaspTypeError(
                        f"draw expects unfinished sequence, got: {describe(value)}")
                return Echo("draw", value.label, (value, ex), stmt)
            case ast.ReplCommand():
                if path is not None and self.on_command is not None:  # inside a loaded file
                    self.on_command(stmt)
                return Echo("command", stmt.command, stmt, stmt)
            case ast.Comment():
                return Echo("none", statement=stmt)
        raise RaspSyntaxError(f"unexpected statement {type(stmt).__name__}")  # pragma: no cover

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
            self.checker(value)
        except RaspError:
            if backup is None:
                raise
            self.on_example(value, backup)  # raises the error on x
            raise

    def _bind(self, scope: Scope, name: str, value: Any, rename: bool = True) -> None:
        """Bind a name; an assigned s-op or selector takes the name (as in the original),
        a parameter does not."""
        reserved = name in KEYWORD_NAMES or name in self.constants
        if not scope.in_function and name in self.library_names and scope is not self.base:
            reserved = True
        if reserved:
            raise RaspNameError(f"Cannot set reserved name: {name}")
        if rename and isinstance(value, ir.IRNode):
            value.name = name
        scope.set(name, value)

    def _for(self, stmt: ast.ForLoop, scope: Scope, origin: str, path: str | None) -> None:
        source = _iterable(self._eval(stmt.source, scope, path),
                           "for loop needs to iterate over a list or dict, but got", str)
        for item in source:
            for name, v in zip(stmt.names, _unpack(stmt.names, [item]), strict=True):
                self._bind(scope, name, v)
            self._run_in(stmt.body, scope, origin, path)

    def _load(self, target: str, scope: Scope, path: str | None) -> list[Echo]:
        file = resolve_load(target, path)
        source = read_source(file)
        try:
            statements: list[Any] = parse_program(source, file)
        except RaspSyntaxError:
            if self.on_load_error is None:
                raise
            statements = read_statements(source, file)  # report it, run the rest (original)
        file_scope = Scope(parent=self.base, exports=scope)
        echoes = []
        for s in statements:
            try:
                if isinstance(s, RaspError):
                    raise s
                echoes.append(self._exec(s, file_scope, _file_origin(file), file))
            except RaspError as err:
                if self.on_load_error is None:
                    raise
                self.on_load_error(err)
        return echoes

    # ---- expressions ------------------------------------------------------------------------

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
                        ev(left, scope, path), ev(right, scope, path), right)
                case ast.BinOp(op=op, left=left, right=right):
                    value = Builder(self, node, path).binary(
                        op, ev(left, scope, path), ev(right, scope, path))
                case ast.Ternary():
                    value = self._ternary(node, scope, path)
                case _:
                    value = self._compound(node, scope, path)
            if self.checker is not None and isinstance(value, ir.IRNode):
                self._check(value)
        except RaspError as err:
            raise _locate(err, node.span, path) from None
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
                self._eval(node.then, scope, path), c, self._eval(node.other, scope, path))
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
                return _make_dict(((ev(k), ev(v)) for k, v in pairs), self.display)
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
                return _builtin(name, [ev(a) for a in args], self.display)
        raise RaspSyntaxError(f"unexpected expression {type(node).__name__}")  # pragma: no cover

    def _comprehension(self, node: ast.Comprehension, scope: Scope, path: str | None) -> Any:
        kind = "list" if node.key is None else "dict"
        source = _iterable(self._eval(node.source, scope, path),
                           f"{kind} comprehension should have got a list or dict to loop over, "
                           "but got", self.display.desc)
        inner = Scope(parent=scope, in_function=True)
        items = []
        for item in source:
            for name, v in zip(node.names, _unpack(node.names, [item]), strict=True):
                inner.vars[name] = v
            if node.key is None:
                items.append(self._eval(node.elem, inner, path))
            else:
                key = self._eval(node.key, inner, path)
                items.append((key, self._eval(node.elem, inner, path)))
        return items if node.key is None else _make_dict(items, self.display)

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
                raise RaspTypeError("wrong number of args for evaluate unfinished- expected: 1, "
                                    f"got: {len(values)}.")
            return Applied(fn, list(normalise_input(values[0])), self._apply(fn, values)[0])
        err = RaspTypeError(f"{describe(fn)} is not a function or an s-op: it cannot be called")
        err.kind = "notimpl"
        raise err

    def _call_function(self, fn: Function, args: list[Any], node: ast.Node,
                       path: str | None) -> Any:
        if len(args) != len(fn.params):
            raise RaspTypeError(f"wrong number of args for {fn.name}- expected: "
                                f"{len(fn.params)}, got: {len(args)}.")
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
            self.display.set(result, f"{fn.name}(" + " , ".join(
                self.display.desc(a, DESC_CAP) for a in args) + ")")
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
    if err.line is not None and span is not None and span.line and (
            err.path != path or err.line < span.line or err.line > span.end_line):
        where = (f"{path}:{span.line}:{span.column}" if path
                 else f"line {span.line}, column {span.column}")
        err.note(f"in {fn.name}, called from {where}: {span.text.splitlines()[0]}")
    return err


def _unpack(names: list[str], values: list[Any]) -> list[Any]:
    if len(names) == 1:
        return [values[0] if len(values) == 1 else list(values)]
    if len(values) == 1:
        (value,) = values
        if not isinstance(value, list):
            raise RaspTypeError(f"expected {len(names)} values, but got: {describe(value)}")
        values = value
    if len(values) != len(names):
        raise RaspTypeError(f"expected {len(names)} values, but got: {len(values)}")
    return list(values)


def _iterable(source: Any, complaint: str, shown: Callable[[Any], str]) -> list[Any]:
    """What `for` and comprehensions iterate over: a list, or a dict's keys."""
    if isinstance(source, dict):
        return list(source)
    if not isinstance(source, list):
        raise RaspTypeError(f"{complaint}: {shown(source)}")
    return source


def _make_dict(pairs, names: Names) -> dict:
    result = {}
    for k, v in pairs:
        if not is_atom(k):
            raise RaspTypeError(
                f"dictionary keys can only be atoms, but instead got: {names.desc(k)}")
        result[k] = v
    return result


def _builtin(name: str, args: list[Any], names: Names) -> Any:
    """range, zip and len, with the original's checks and messages."""
    if name == "range":
        if not 1 <= len(args) <= 3:
            raise RaspTypeError("wrong number of inputs to range, expected: 1, 2, or 3, got: "
                                f"{len(args)}")
        if not all(isinstance(a, int) for a in args):
            raise RaspTypeError(f"range expects all integer inputs, but got: {names.desc(args)}")
        r = range(*args)
        if len(r) > MAX_LIST:
            raise RaspEvalError(f"range of {len(r):,} items is too long "
                                f"(the limit is {MAX_LIST:,})")
        return list(r)
    if name == "zip":
        for i, a in enumerate(args):
            if not isinstance(a, list):
                raise RaspTypeError(f"attempting to zip lists, but {i + 1} -th element is not "
                                    f"list: {names.desc(a)}")
        for i, a in enumerate(args):
            if len(a) != len(args[0]):
                raise RaspTypeError(f"attempting to zip lists of length {len(args[0])} , but "
                                    f"{i + 1} -th list has length {len(a)}")
        return [list(t) for t in zip(*args, strict=True)]
    (arg,) = args
    if not isinstance(arg, list):
        raise RaspTypeError(f"attempting to compute length of non-list: {names.desc(arg)}")
    return len(arg)


def _locate(err: RaspError, span: ast.Span | None, path: str | None) -> RaspError:
    if span is not None and span.line:
        # The whole line, from a file (a REPL input is shown from the input the REPL holds).
        err.located(span.line, span.column, path, span.line_text if path else None)
    elif path and err.path is None and err.line is None:
        err.path = path
    return err


def _file_origin(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def normalise_input(x: Any) -> str | list[Any]:
    """An input is a non-empty string (one token per character) or a non-empty list; a dict
    is its keys (the original iterates it)."""
    if isinstance(x, str) and x:
        return x
    if isinstance(x, list | tuple | dict) and len(x) > 0:
        return list(x)
    shown = "" if isinstance(x, str) else str(x)
    raise RaspTypeError(f"RASP sequences/selectors expect non-empty iterables, got: {shown}")


def to_python(value: Any) -> Any:
    """A plain value as Python data (an `Applied` as its values)."""
    if isinstance(value, Applied):
        return value.value
    return value


def resolve_load(target: str, current: str | None) -> str:
    """`load "p";` reads p.rasp from the working directory (as the original), else beside
    the file that loads it."""
    name = target if target.endswith(".rasp") else target + ".rasp"
    candidates = [name]
    if current:
        candidates.append(os.path.join(os.path.dirname(current), name))
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise RaspNameError(f"could not find file: {name}")


MAX_SOURCE_BYTES = 256 * 1024  # ~90x the standard library: beyond it, a wrong file, not a program


def read_source(path: str) -> str:
    """Read a program as UTF-8, turning OS and decoding problems into RaspErrors. Only a
    regular file up to MAX_SOURCE_BYTES is read: a device or a FIFO would never end (or block)."""
    try:
        if not os.path.isfile(path) and os.path.exists(path):
            raise RaspNameError("not a regular file (a device or a pipe?), so not a program",
                                path=path)
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_SOURCE_BYTES + 1)
        if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise RaspNameError(f"larger than {MAX_SOURCE_BYTES // 1024} KiB: too large to be a "
                                "RASP program", path=path)
        return text
    except UnicodeDecodeError as exc:
        raise RaspSyntaxError(f"{path} is not UTF-8 text (byte {exc.start}: "
                              f"{exc.object[exc.start:exc.start + 1]!r})", path=path) from None
    except OSError as exc:
        raise RaspNameError(f"cannot read {path}: {exc.strerror}", path=path) from None
