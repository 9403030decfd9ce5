"""The IR: a graph of s-op and selector nodes, built by evaluating a RASP program.

Nothing here computes on inputs. `rasp.interpreter` runs the graph on a batch of inputs with
numpy; `compiler` turns the same graph into transformer weights. Elementwise operations are
named (`op`) so that both back ends can reason about them; `elementwise_fn` gives the Python
function that defines their meaning, value by value, exactly as the original applies it.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rasp.ast import Span
from rasp.errors import RaspTypeError

_ids = itertools.count()


@dataclass(eq=False)
class IRNode:
    """Base of s-ops and selectors. `name` changes when the node is assigned to a variable."""

    span: Span | None = field(default=None, kw_only=True)
    path: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)
    id: int = field(default_factory=lambda: next(_ids), kw_only=True)

    def children(self) -> tuple[IRNode, ...]:
        return ()

    @property
    def label(self) -> str:
        """A readable label: the variable name, else the source text, else the node kind."""
        if self.name:
            return self.name
        if self.span is not None and self.span.text:
            return self.span.text
        return type(self).__name__.lower()

    def where(self) -> str:
        if self.span is None or not self.span.line:
            return self.path or "<builtin>"
        return f"{self.path or '<input>'}:{self.span.line}:{self.span.column}"


class SOp(IRNode):
    """A sequence operator: a value per position of the input."""


class Selector(IRNode):
    """An attention pattern: a boolean per (query, key) pair of positions."""


# ---- s-ops ------------------------------------------------------------------------------------

TOKEN_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "asis": lambda v: v,
}


@dataclass(eq=False)
class Tokens(SOp):
    """The input, converted per element: tokens_str, tokens_int, tokens_float, ..."""

    conversion: str = "asis"


@dataclass(eq=False)
class Indices(SOp):
    """0, 1, ..., n-1."""


@dataclass(eq=False)
class Full(SOp):
    """The same atom at every position (an atom lifted to an s-op)."""

    value: Any = None


@dataclass(eq=False)
class Map(SOp):
    """`op` applied elementwise to one s-op; `const` is the atom of `sop + 3`, `[1,2][sop]`, ...

    `const_side` is 'right' for `sop OP const`, 'left' for `const OP sop`, None for unary ops.
    """

    op: str = ""
    child: SOp = field(kw_only=True)
    const: Any = None
    const_side: str | None = None

    def children(self) -> tuple[IRNode, ...]:
        return (self.child,)

    def fn(self) -> Callable[[Any], Any]:
        base = elementwise_fn(self.op)
        c = self.const
        if self.const_side == "right":
            return lambda v: base(v, c)
        if self.const_side == "left":
            return lambda v: base(c, v)
        return base


@dataclass(eq=False)
class SequenceMap(SOp):
    """`op` applied elementwise to several s-ops of the same length (zipped)."""

    op: str = ""
    inputs: tuple[SOp, ...] = ()

    def children(self) -> tuple[IRNode, ...]:
        return self.inputs

    def fn(self) -> Callable[..., Any]:
        return elementwise_fn(self.op)


@dataclass(eq=False)
class Aggregate(SOp):
    """Attention: the mean of `sop` over the selected keys (one key: its value; none: default)."""

    selector: Selector = field(kw_only=True)
    sop: SOp = field(kw_only=True)
    default: Any = 0

    def children(self) -> tuple[IRNode, ...]:
        return (self.selector, self.sop)


# ---- selectors ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Select(Selector):
    """Entry (q, k) is `keys[k] OP queries[q]`."""

    keys: SOp = field(kw_only=True)
    queries: SOp = field(kw_only=True)
    op: str = "=="

    def children(self) -> tuple[IRNode, ...]:
        return (self.keys, self.queries)

    def predicate(self) -> Callable[[Any, Any], bool]:
        return COMPARISONS[self.op]


@dataclass(eq=False)
class SelectorCombine(Selector):
    """`a and b`, `a or b` (pointwise), `not a`."""

    op: str = "and"
    inputs: tuple[Selector, ...] = ()

    def children(self) -> tuple[IRNode, ...]:
        return self.inputs


# ---- elementwise semantics --------------------------------------------------------------------

COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _index(container: Any, key: Any) -> Any:
    """`list[v]`, `"str"[v]`, `dict[v]` with the original's error texts (RASP errors there)."""
    if isinstance(container, dict):
        try:
            found = key in container
        except TypeError:
            found = False
        if not found:
            raise RaspTypeError(f"index [ {_repr_atom(key)} ] not in dict.")
        return container[key]
    if not isinstance(key, int):
        raise RaspTypeError(f"list indices must be integers, got: {_repr_atom(key)}")
    if not -len(container) <= key < len(container):
        raise RaspTypeError(f"index {key} out of range for list of length {len(container)}")
    return container[key]


def _repr_atom(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)


MAX_INT_BITS = 4096  # larger powers are runaway input, not arithmetic anyone meant
MAX_REPEAT = 10_000_000  # items in a repeated string or list


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * math.log2(abs(a)) > MAX_INT_BITS:
            raise OverflowError(f"{a} ^ {b} is too large (more than {MAX_INT_BITS} bits)")
    return operator.pow(a, b)


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, str | list) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
            raise OverflowError(f"repeating {len(seq)} items {n} times is too large")
    return operator.mul(a, b)


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": _mul,
    "/": operator.truediv,
    "%": operator.mod,
    "^": _pow,
    **COMPARISONS,
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "not": lambda a: not a,
    "neg": operator.neg,
    "pos": operator.pos,
    "round": round,
    "indicator": lambda a: 1 if a else 0,
    "in": lambda a, container: a in container,
    "index": lambda key, container: _index(container, key),
    "ternary": lambda then, cond, other: then if cond else other,
    "identity": lambda a: a,
}


def elementwise_fn(op: str) -> Callable[..., Any]:
    return _ELEMENTWISE[op]


def walk(
    roots: IRNode | list[IRNode], children: Callable[[IRNode], tuple[IRNode, ...]] | None = None
) -> Iterator[IRNode]:
    """All nodes reachable from `roots`, children before parents, each once (iterative).

    `children` says which nodes a node reads (default: its IR children); the compiler passes
    its own, which skips the library internals of patterns it compiles whole."""
    read = children or (lambda node: node.children())
    stack: list[tuple[IRNode, bool]] = [
        (r, False) for r in reversed(roots if isinstance(roots, list) else [roots])
    ]
    seen: set[int] = set()
    while stack:
        node, expanded = stack.pop()
        if node.id in seen:
            continue
        if expanded:
            seen.add(node.id)
            yield node
            continue
        stack.append((node, True))
        for child in reversed(read(node)):
            if child.id not in seen:
                stack.append((child, False))
