"""Operators on RASP values: plain values compute at once, s-ops and selectors become IR nodes.

`Builder` follows the original's rules for mixing value kinds, and gives each node the name the
original gives the object it creates (`( indices + 1 )`, `plain select`, `I(x)`, ...). The REPL
shows those names for values that no variable names (in lists, dicts, function results); they
live in `Names`, beside the IR, so the names the compiler and `draw` show are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rasp import ast, ir
from rasp.errors import RaspEvalError, RaspTypeError

ATOM_TYPES = (int, float, str, bool)
MAX_NAME = 30  # the original's name_maxlen: longer names become "s-op" / "sel"
DESC_CAP = 20  # arguments described in a function result's name: longer ones are "(list)"

# `atom OP sop`: Python asks the s-op for the reflected comparison (1 < x is x > 1).
_REFLECTED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
_OP_WORDS = {"^": "pow"}


def is_atom(v: Any) -> bool:
    return isinstance(v, ATOM_TYPES)


class Names:
    """The original's names of s-ops and selectors, by node id. A name is set when the node
    is made, and replaced when the node is assigned or returned by a function (the original
    renames the object itself, so every list or dict that holds it shows the new name)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def set(self, node: ir.IRNode, name: str) -> None:
        if len(name) > MAX_NAME:
            name = "s-op" if isinstance(node, ir.SOp) else "sel"
        self._names[node.id] = name

    def of(self, node: ir.IRNode) -> str:
        return self._names.get(node.id) or node.label

    def desc(self, v: Any, cap: int | None = None) -> str:
        """The original's `strdesc`: how a value appears inside a name."""
        if isinstance(v, ir.IRNode):
            return self.of(v)
        if isinstance(v, list):
            text = "[" + ", ".join(self.desc(x) for x in v) + "]"
            return "(list)" if cap is not None and len(text) > cap else text
        if isinstance(v, dict):
            text = "{" + ", ".join(f"{self.desc(k)}: {self.desc(x)}" for k, x in v.items()) + "}"
            return "(dict)" if cap is not None and len(text) > cap else text
        if isinstance(v, str):
            return f'"{v}"'
        return str(v)

    def plain(self, v: Any) -> str:
        """A value inside an operator's name: a node's name, an atom's `str` (no quotes)."""
        if isinstance(v, ir.IRNode):
            return self.of(v)
        return str(v) if isinstance(v, ATOM_TYPES) else self.desc(v)


@dataclass
class Function:
    """A `def`: a closure over the scope it was defined in (free names bound at call time)."""

    name: str
    params: list[str]
    body: list[ast.Node]
    returns: list[ast.Node]
    closure: Any  # the env's Scope
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


def describe(v: Any) -> str:
    """How a value appears inside error messages."""
    if isinstance(v, ir.IRNode):
        return v.label
    if isinstance(v, Function):
        return f"function {v.name}"
    if isinstance(v, str):
        return f'"{v}"'
    # Containers item by item: `str` of a node would print its whole graph.
    if isinstance(v, list):
        return "[" + ", ".join(describe(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{describe(k)}: {describe(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Applied):
        return describe(v.value)
    return str(v)


class _Scope(Protocol):
    def lookup(self, name: str) -> Any: ...


class Host(Protocol):
    """What a `Builder` needs of the environment that runs it (`env.Environment`): the
    names it gives new nodes, the library (`full_s`, `length`) and the `indices` s-op.
    A protocol, so that the builder does not import the environment that imports it."""

    display: Names
    constants: dict[str, Any]

    @property
    def base(self) -> _Scope: ...


class Builder:
    """Builds the IR node (or plain value) of one expression."""

    def __init__(self, env: Host, node: ast.Node, path: str | None):
        self.env, self.span, self.path = env, node.span, path
        self.names: Names = env.display

    def _mk(self, cls, name: str, **fields):
        made = cls(span=self.span, path=self.path, **fields)
        self.names.set(made, name)
        return made

    def lift(self, v: Any) -> ir.SOp:
        if isinstance(v, ir.SOp):
            return v
        if not is_atom(v):
            raise RaspTypeError(f"expected an s-op or an atom, got: {describe(v)}")
        return self._mk(ir.Full, str(v), value=v)

    def unary(self, op: str, v: Any) -> Any:
        name = {"-": "neg", "+": "pos"}.get(op, op)
        if isinstance(v, ir.Selector):
            if op == "not":
                return self._mk(ir.SelectorCombine, "plain select", op="not", inputs=(v,))
            if op in ("-", "+"):  # Python's own error in the original
                raise RaspEvalError(f"bad operand type for unary {op}: 'UnfinishedSelect'")
            raise RaspTypeError(f"Cannot apply {op} to selector(s)")
        if isinstance(v, ir.SOp):
            shown = (
                f"I({self.names.of(v)})" if op == "indicator" else f"( {op} {self.names.of(v)} )"
            )
            return self._mk(ir.Map, shown, op=name, child=v)
        if op == "indicator":
            raise RaspTypeError(f"indicator operator expects s-op, got: {describe(v)}")
        return python(ir.elementwise_fn(name), v)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        sel_a, sel_b = isinstance(a, ir.Selector), isinstance(b, ir.Selector)
        if op in ("and", "or"):
            if sel_a and sel_b:
                return self._mk(ir.SelectorCombine, "plain select", op=op, inputs=(a, b))
            if sel_a or sel_b:
                raise RaspTypeError("Cannot apply and/or between selector and non-selector")
        elif sel_a or sel_b:
            raise RaspTypeError(f"Cannot apply {op} to selector(s)")
        sop_a, sop_b = isinstance(a, ir.SOp), isinstance(b, ir.SOp)
        if not (sop_a or sop_b):
            if op in ("and", "or"):
                return (a and b) if op == "and" else (a or b)
            return python(ir.elementwise_fn(op), a, b)
        shown = f"( {self.names.plain(a)} {_OP_WORDS.get(op, op)} {self.names.plain(b)} )"
        if op in ("and", "or"):
            shown = shown[:-2] + ")"  # the original's `( x and y)`
        if sop_a and sop_b:
            return self._mk(ir.SequenceMap, shown, op=op, inputs=(a, b))
        if sop_a:
            return self._mk(ir.Map, shown, op=op, child=a, const=b, const_side="right")
        if sop_b:
            if op in ("and", "or"):
                return self._mk(ir.Map, shown, op=op, child=b, const=a, const_side="left")
            if op in _REFLECTED:  # the s-op's own (reflected) comparison, as Python runs it
                flipped = _REFLECTED[op]
                return self._mk(
                    ir.Map,
                    f"( {self.names.of(b)} {flipped} {self.names.plain(a)} )",
                    op=flipped,
                    child=b,
                    const=a,
                    const_side="right",
                )
        return self._mk(ir.Map, shown, op=op, child=b, const=a, const_side="left")

    def contains(self, a: Any, b: Any, container: ast.Node) -> Any:
        """`a in b`: an s-op in a list of atoms, or an atom in a list or an s-op."""
        if isinstance(a, ir.SOp):
            if not isinstance(b, list):
                raise RaspTypeError(
                    '"[s-op] in X" expects X to be list of atoms, but got '
                    f"non-list: {self.names.desc(b)}"
                )
            if not all(is_atom(x) for x in b):
                raise RaspTypeError(
                    '"[s-op] in X" expects X to be list of atoms, but got '
                    f"list with values: {self.names.desc(b)}"
                )
            shown = container.name if isinstance(container, ast.Name) else str(b)
            return self._mk(
                ir.Map,
                f"{self.names.of(a)} in {shown}",
                op="in",
                child=a,
                const=list(b),
                const_side="right",
            )
        if isinstance(a, ir.Selector) or isinstance(a, Function):
            what = "select" if isinstance(a, ir.Selector) else "function"
            raise RaspTypeError(
                f"don't check if {what} is contained in list/dict: unless "
                f"exact same instance, unable to check equivalence of {what}s"
            )
        if not is_atom(a):
            raise RaspTypeError(
                f'"A in X" expects A to be s-op or atom, but got A: {self.names.desc(a)}'
            )
        if isinstance(b, ir.SOp):
            full_s = self.env.base.lookup("full_s")
            hits = self._mk(
                ir.Map,
                "s-op",
                op="indicator",
                child=self._mk(ir.Map, "s-op", op="==", child=b, const=a, const_side="right"),
            )
            frac = self._mk(ir.Aggregate, "s-op", selector=full_s, sop=hits, default=0)
            return self._mk(ir.Map, "( s-op > 0 )", op=">", child=frac, const=0, const_side="right")
        if not isinstance(b, list):
            raise RaspTypeError(
                f'"[atom] in X" expects X to be list or s-op, but got: {self.names.desc(b)}'
            )
        return python(lambda x, c: x in c, a, b)

    def ternary(self, then: Any, cond: ir.SOp, other: Any) -> ir.SOp:
        shown = f"{self.names.plain(then)} if {self.names.of(cond)} else {self.names.plain(other)}"
        return self._mk(
            ir.SequenceMap, shown, op="ternary", inputs=(self.lift(then), cond, self.lift(other))
        )

    def index(self, target: Any, idx: Any, target_name: str, index_name: str) -> Any:
        if isinstance(target, ir.SOp):
            if isinstance(idx, ir.IRNode) or not isinstance(idx, int) or isinstance(idx, bool):
                raise RaspTypeError(
                    f"index into sequence has to be integer, got: {self.names.desc(idx)}"
                )
            where: Any = idx
            if idx < 0:
                length = self.env.base.lookup("length")
                where = self._mk(
                    ir.Map,
                    f"{self.names.of(length)}{idx}",
                    op="+",
                    child=length,
                    const=idx,
                    const_side="right",
                )
            sel = self.select(self.env.constants["indices"], where, "==")
            self.names.set(sel, f"load from {idx}")
            return self._mk(
                ir.Aggregate, f"{self.names.of(target)}[{idx}]", selector=sel, sop=target, default=0
            )
        if isinstance(target, ir.Selector):
            raise RaspTypeError("a selector cannot be indexed")
        if isinstance(idx, ir.SOp):
            if not isinstance(target, list | dict | str):
                raise RaspTypeError(f"cannot index {describe(target)} with an s-op")
            return self._mk(
                ir.Map,
                f"{target_name}[{index_name}]",
                op="index",
                child=idx,
                const=target,
                const_side="right",
            )
        if not isinstance(target, list | dict | str):
            raise RaspTypeError(
                "can only index into a list, dict, string,or sequence, but "
                f"instead got: {self.names.desc(target)}"
            )
        return python(lambda c, k: ir.elementwise_fn("index")(k, c), target, idx)

    def select(self, keys: Any, queries: Any, op: str) -> ir.Select:
        return self._mk(
            ir.Select, "plain select", keys=self.lift(keys), queries=self.lift(queries), op=op
        )

    def aggregate(self, sel: Any, sop: Any, default: Any) -> ir.Aggregate:
        if not isinstance(sel, ir.Selector):
            raise RaspTypeError(f"Expected selector, got: {self.names.desc(sel)}")
        if not is_atom(default):
            raise RaspTypeError(f"Expected atom, got: {self.names.desc(default)}")
        return self._mk(ir.Aggregate, "s-op", selector=sel, sop=self.lift(sop), default=default)


def python(fn: Callable[..., Any], *args: Any) -> Any:
    """Apply a Python operator to plain values; its errors are the user's."""
    if any(isinstance(a, Function | Applied) for a in args):
        raise RaspTypeError(f"cannot compute with {', '.join(describe(a) for a in args)}")
    try:
        return fn(*args)
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise RaspEvalError(str(message)) from None
