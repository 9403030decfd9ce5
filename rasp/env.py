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
from .errors import RaspError, RaspEvalError, RaspNameError, RaspSyntaxError, RaspTypeError
from .interpreter import evaluate_batch
from .parser import parse_expression, parse_program

MAX_CALL_DEPTH = 100
MAX_LIST = 1_000_000

CONSTANT_SOPS = ("tokens_str", "tokens_int", "tokens_float", "tokens_bool", "tokens_asis")
KEYWORD_NAMES = frozenset(
    "if else not and or out def return range for in zip len get".split())
ATOM_TYPES = (int, float, str, bool)


@cache
def _stdlib() -> list[ast.Node]:
    """The standard library's statements, parsed once per process (the AST is never changed)."""
    return parse_program(resources.files("rasp").joinpath("stdlib.rasp").read_text(),
                         "stdlib.rasp")


def is_atom(v: Any) -> bool:
    return isinstance(v, ATOM_TYPES)


def describe(v: Any) -> str:
    """How a value appears inside error messages."""
    if isinstance(v, ir.IRNode):
        return v.label
    if isinstance(v, Function):
        return f"function {v.name}"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


@dataclass
class Function:
    """A `def`: a closure over the scope it was defined in (free names bound at call time)."""

    name: str
    params: list[str]
    body: list[ast.Node]
    returns: list[ast.Node]
    closure: Scope
    origin: str  # 'console' or the file it was loaded from
    path: str | None = None
    span: ast.Span | None = None

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


@dataclass
class Applied:
    """The result of applying an s-op or selector to an input: `reverse("abc")`."""

    node: ir.IRNode
    input: list[Any]
    value: list[Any]  # a list of values, or of selector rows


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
        # Called on every s-op/selector a statement produces (the REPL's running-example check).
        self.checker: Callable[[Any], None] | None = None
        # Called with errors inside loaded files; the default stops at the first one.
        self.on_load_error: Callable[[RaspError], None] | None = None
        self._depth = 0
        self._run_in(_stdlib(), self.base, origin="stdlib", path="stdlib.rasp")
        self.library_names = frozenset(self.base.vars) - {"tokens"}
        self.top = Scope(parent=self.base)

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

    def names(self) -> dict[str, Any]:
        """Every name visible at top level (constants, library, user), for completion."""
        found = dict(self.constants)
        for scope in (self.base, self.top):
            found.update(scope.vars)
        return found

    # ---- statements -------------------------------------------------------------------------

    def _run_in(self, statements: list[ast.Node], scope: Scope, origin: str,
                path: str | None) -> list[Echo]:
        return [self._exec(s, scope, origin, path) for s in statements]

    def _exec(self, stmt: ast.Node, scope: Scope, origin: str, path: str | None) -> Echo:
        try:
            return self._exec_inner(stmt, scope, origin, path)
        except RaspError as err:
            raise _locate(err, stmt.span, path) from None
        except RecursionError:
            raise _locate(RaspEvalError("the program recurses too deeply"),
                          stmt.span, path) from None

    def _exec_inner(self, stmt, scope: Scope, origin: str, path: str | None) -> Echo:
        match stmt:
            case ast.ExprStmt(expr=expr):
                value = self._eval(expr, scope, path)
                self._check(value)
                scope.set("out", value)
                return Echo("expr", "out", value, stmt)
            case ast.Assign(names=names, values=exprs):
                values = [self._eval(e, scope, path) for e in exprs]
                values = _unpack(names, values)
                for v in values:
                    self._check(v)
                for name, v in zip(names, values, strict=True):
                    self._bind(scope, name, v)
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
                value = self._eval(expr, scope, path)
                if not isinstance(value, ir.SOp):
                    raise RaspTypeError(
                        f"draw expects unfinished sequence, got: {describe(value)}")
                ex = self._eval(example, scope, path) if example is not None else None
                return Echo("draw", value.label, (value, ex), stmt)
            case ast.ReplCommand():
                return Echo("command", stmt.command, stmt, stmt)
            case ast.Comment():
                return Echo("none", statement=stmt)
        raise RaspSyntaxError(f"unexpected statement {type(stmt).__name__}")  # pragma: no cover

    def _check(self, value: Any) -> None:
        if self.checker is not None and isinstance(value, ir.IRNode):
            self.checker(value)

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
                           "for loop needs to iterate over a list or dict, but got")
        for item in source:
            for name, v in zip(stmt.names, _unpack(stmt.names, [item]), strict=True):
                self._bind(scope, name, v)
            self._run_in(stmt.body, scope, origin, path)

    def _load(self, target: str, scope: Scope, path: str | None) -> list[Echo]:
        file = resolve_load(target, path)
        source = read_source(file)
        statements = parse_program(source, file)
        file_scope = Scope(parent=self.base, exports=scope)
        echoes = []
        checker, self.checker = self.checker, None  # examples are not run during a load
        try:
            for s in statements:
                try:
                    echoes.append(self._exec(s, file_scope, _file_origin(file), file))
                except RaspError as err:
                    if self.on_load_error is None:
                        raise
                    self.on_load_error(err)
        finally:
            self.checker = checker
        return echoes

    # ---- expressions ------------------------------------------------------------------------

    def _eval(self, node: ast.Node, scope: Scope, path: str | None) -> Any:
        try:
            return self._eval_inner(node, scope, path)
        except RaspError as err:
            raise _locate(err, node.span, path) from None

    def _lookup(self, name: str, scope: Scope) -> Any:
        if name in self.constants:
            return self.constants[name]
        return scope.lookup(name)

    def _eval_inner(self, node: ast.Node, scope: Scope, path: str | None) -> Any:
        ev = lambda n: self._eval(n, scope, path)  # noqa: E731
        build = _Builder(self, node, path)
        match node:
            case ast.Name(name=name):
                return self._lookup(name, scope)
            case ast.Const(value=value):
                return value
            case ast.ListExpr(items=items):
                return [ev(i) for i in items]
            case ast.DictExpr(pairs=pairs):
                return _make_dict((ev(k), ev(v)) for k, v in pairs)
            case ast.Comprehension():
                return self._comprehension(node, scope, path)
            case ast.UnaryOp(op=op, operand=operand):
                return build.unary(op, ev(operand))
            case ast.BinOp(op=op, left=left, right=right):
                return build.binary(op, ev(left), ev(right))
            case ast.Ternary(then=then, cond=cond, other=other):
                c = ev(cond)
                if isinstance(c, ir.SOp):
                    return build.ternary(ev(then), c, ev(other))
                if isinstance(c, ir.Selector):
                    raise RaspTypeError("a selector cannot be the condition of a ternary")
                return ev(then) if c else ev(other)
            case ast.Index(target=target, index=index):
                return build.index(ev(target), ev(index), scope)
            case ast.Call(func=func, args=args):
                return self._call(ev(func), [ev(a) for a in args], node, path)
            case ast.Select(keys=keys, queries=queries, op=op):
                return build.select(ev(keys), ev(queries), op)
            case ast.Aggregate(selector=sel, sop=sop, default=default):
                d = ev(default) if default is not None else 0
                return build.aggregate(ev(sel), ev(sop), d)
            case ast.Builtin(name=name, args=args):
                return _builtin(name, [ev(a) for a in args])
        raise RaspSyntaxError(f"unexpected expression {type(node).__name__}")  # pragma: no cover

    def _comprehension(self, node: ast.Comprehension, scope: Scope, path: str | None) -> Any:
        source = _iterable(self._eval(node.source, scope, path),
                           "comprehension needs a list or dict to iterate over, got")
        inner = Scope(parent=scope, in_function=True)
        items = []
        for item in source:
            for name, v in zip(node.names, _unpack(node.names, [item]), strict=True):
                inner.vars[name] = v
            elem = self._eval(node.elem, inner, path)
            items.append(elem if node.key is None else (self._eval(node.key, inner, path), elem))
        return items if node.key is None else _make_dict(items)

    def _call(self, fn: Any, args: list[Any], node: ast.Node, path: str | None) -> Any:
        if isinstance(fn, Function):
            return self._call_function(fn, args)
        if isinstance(fn, ir.IRNode) and len(args) == 1:
            return Applied(fn, list(normalise_input(args[0])), self._apply(fn, [args[0]])[0])
        err = RaspTypeError(f"{describe(fn)} is not a function or an s-op: it cannot be called")
        err.kind = "notimpl"
        raise err

    def _call_function(self, fn: Function, args: list[Any]) -> Any:
        if len(args) != len(fn.params):
            raise RaspTypeError(f"wrong number of args for {fn.name}- expected: "
                                f"{len(fn.params)}, got: {len(args)}.")
        if self._depth >= MAX_CALL_DEPTH:
            raise RaspEvalError(f"too many nested calls (more than {MAX_CALL_DEPTH}): "
                                f"is {fn.name} recursing without end?")
        scope = Scope(parent=fn.closure, in_function=True)
        for p, a in zip(fn.params, args, strict=True):
            self._bind(scope, p, a, rename=False)
        self._depth += 1
        try:
            self._run_in(fn.body, scope, fn.origin, fn.path)
            results = [self._eval(r, scope, fn.path) for r in fn.returns]
        finally:
            self._depth -= 1
        result = results[0] if len(results) == 1 else results
        if isinstance(result, ir.IRNode) and result.name is None:
            result.name = f"{fn.name}({', '.join(describe(a) for a in args)})"
        return result

    def _apply(self, value: Any, inputs: list[Any]) -> list[Any]:
        if not isinstance(value, ir.IRNode):
            return [to_python(value) for _ in inputs]
        return evaluate_batch(value, [normalise_input(x) for x in inputs])


class _Builder:
    """Builds IR nodes for operators, following the original's rules for mixing value kinds."""

    def __init__(self, env: Environment, node: ast.Node, path: str | None):
        self.env, self.span, self.path = env, node.span, path

    def _mk(self, cls, **fields):
        return cls(span=self.span, path=self.path, **fields)

    def lift(self, v: Any) -> ir.SOp:
        if isinstance(v, ir.SOp):
            return v
        if not is_atom(v):
            raise RaspTypeError(f"expected an s-op or an atom, got: {describe(v)}")
        return self._mk(ir.Full, value=v)

    def unary(self, op: str, v: Any) -> Any:
        name = {"-": "neg", "+": "pos"}.get(op, op)
        if isinstance(v, ir.Selector):
            if op == "not":
                return self._mk(ir.SelectorCombine, op="not", inputs=(v,))
            raise RaspTypeError(f"Cannot apply {op} to selector(s)")
        if isinstance(v, ir.SOp):
            return self._mk(ir.Map, op=name, child=v)
        if op == "indicator":
            raise RaspTypeError(f"indicator operator expects s-op, got: {describe(v)}")
        return _python(ir.elementwise_fn(name), v)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        sel_a, sel_b = isinstance(a, ir.Selector), isinstance(b, ir.Selector)
        if op in ("and", "or"):
            if sel_a and sel_b:
                return self._mk(ir.SelectorCombine, op=op, inputs=(a, b))
            if sel_a or sel_b:
                raise RaspTypeError("Cannot apply and/or between selector and non-selector")
        elif sel_a or sel_b:
            raise RaspTypeError(f"Cannot apply {op} to selector(s)")
        if op == "in":
            return self._in(a, b)
        sop_a, sop_b = isinstance(a, ir.SOp), isinstance(b, ir.SOp)
        if sop_a and sop_b:
            return self._mk(ir.SequenceMap, op=op, inputs=(a, b))
        if sop_a:
            return self._mk(ir.Map, op=op, child=a, const=b, const_side="right")
        if sop_b:
            return self._mk(ir.Map, op=op, child=b, const=a, const_side="left")
        if op == "and":
            return a and b
        if op == "or":
            return a or b
        return _python(ir.elementwise_fn(op), a, b)

    def _in(self, a: Any, b: Any) -> Any:
        if isinstance(a, ir.SOp):
            if not isinstance(b, list) or not all(is_atom(x) for x in b):
                raise RaspTypeError(f"s-op in X: X must be a list of atoms, got: {describe(b)}")
            return self._mk(ir.Map, op="in", child=a, const=list(b), const_side="right")
        if isinstance(b, ir.SOp):
            full_s = self.env.base.lookup("full_s")
            hits = self._mk(ir.Map, op="indicator",
                            child=self._mk(ir.Map, op="==", child=b, const=a, const_side="right"))
            frac = self._mk(ir.Aggregate, selector=full_s, sop=hits, default=0)
            return self._mk(ir.Map, op=">", child=frac, const=0, const_side="right")
        return _python(lambda x, c: x in c, a, b)

    def ternary(self, then: Any, cond: ir.SOp, other: Any) -> ir.SOp:
        return self._mk(ir.SequenceMap, op="ternary",
                        inputs=(self.lift(then), cond, self.lift(other)))

    def index(self, target: Any, idx: Any, scope: Scope) -> Any:
        if isinstance(target, ir.SOp):
            if isinstance(idx, ir.IRNode) or not isinstance(idx, int) or isinstance(idx, bool):
                raise RaspTypeError(f"index into sequence has to be integer, got: {describe(idx)}")
            where: Any = idx
            if idx < 0:
                where = self._mk(ir.Map, op="+", child=self.env.base.lookup("length"),
                                 const=idx, const_side="right")
            sel = self.select(self.env.constants["indices"], where, "==")
            return self._mk(ir.Aggregate, selector=sel, sop=target, default=0)
        if isinstance(target, ir.Selector):
            raise RaspTypeError("a selector cannot be indexed")
        if isinstance(idx, ir.SOp):
            if not isinstance(target, list | dict | str):
                raise RaspTypeError(f"cannot index {describe(target)} with an s-op")
            return self._mk(ir.Map, op="index", child=idx, const=target, const_side="right")
        if not isinstance(target, list | dict | str):
            raise RaspTypeError(f"cannot index into {describe(target)}")
        return _python(lambda c, k: ir.elementwise_fn("index")(k, c), target, idx)

    def select(self, keys: Any, queries: Any, op: str) -> ir.Select:
        return self._mk(ir.Select, keys=self.lift(keys), queries=self.lift(queries), op=op)

    def aggregate(self, sel: Any, sop: Any, default: Any) -> ir.Aggregate:
        if not isinstance(sel, ir.Selector):
            raise RaspTypeError(f"Expected selector, got: {describe(sel)}")
        if not is_atom(default):
            raise RaspTypeError(f"Expected atom, got: {describe(default)}")
        return self._mk(ir.Aggregate, selector=sel, sop=self.lift(sop), default=default)


# ---- helpers --------------------------------------------------------------------------------


def _python(fn: Callable[..., Any], *args: Any) -> Any:
    """Apply a Python operator to plain values; its errors are the user's."""
    if any(isinstance(a, Function | Applied) for a in args):
        raise RaspTypeError(f"cannot compute with {', '.join(describe(a) for a in args)}")
    try:
        return fn(*args)
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise RaspEvalError(str(message)) from None


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


def _iterable(source: Any, complaint: str) -> list[Any]:
    """What `for` and comprehensions iterate over: a list, or a dict's keys."""
    if isinstance(source, dict):
        return list(source)
    if not isinstance(source, list):
        raise RaspTypeError(f"{complaint}: {describe(source)}")
    return source


def _make_dict(pairs) -> dict:
    result = {}
    for k, v in pairs:
        if not is_atom(k):
            raise RaspTypeError("dictionary keys can only be atoms")
        result[k] = v
    return result


def _builtin(name: str, args: list[Any]) -> Any:
    if name == "range":
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
            raise RaspTypeError(f"range expects all integer inputs, but got: {args}")
        r = range(*args)
        if len(r) > MAX_LIST:
            raise RaspEvalError(f"range of {len(r):,} items is too long "
                                f"(the limit is {MAX_LIST:,})")
        return list(r)
    if name == "zip":
        if not all(isinstance(a, list) for a in args):
            raise RaspTypeError("zip expects lists")
        if len({len(a) for a in args}) > 1:
            raise RaspTypeError("zip expects lists of equal length")
        return [list(t) for t in zip(*args, strict=True)]
    (arg,) = args
    if not isinstance(arg, list):
        raise RaspTypeError(f"attempting to compute length of non-list: {describe(arg)}")
    return len(arg)


def _locate(err: RaspError, span: ast.Span | None, path: str | None) -> RaspError:
    if span is not None and span.line:
        err.located(span.line, span.column, path, None)
    elif path and err.path is None and err.line is None:
        err.path = path
    return err


def _file_origin(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def normalise_input(x: Any) -> str | list[Any]:
    """An input is a non-empty string (one token per character) or a non-empty list."""
    if isinstance(x, str) and x:
        return x
    if isinstance(x, list | tuple) and len(x) > 0:
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
