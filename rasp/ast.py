"""Abstract syntax tree: what the parser hands to the environment. Every node keeps its span."""

from __future__ import annotations

from dataclasses import dataclass, field


class SourceLines:
    """A source text and where its lines start: spans find their whole line through it, so an
    error's caret sits under the column it names (not under a snippet of the expression)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]

    def line(self, number: int) -> str | None:
        if not 0 < number <= len(self.starts):
            return None
        start = self.starts[number - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]


@dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int
    text: str = field(default="", compare=False)  # the source text of the node
    source: SourceLines | None = field(default=None, compare=False, repr=False)

    @property
    def line_text(self) -> str | None:
        """The whole first line of the node in its source (None when unknown)."""
        return self.source.line(self.line) if self.source is not None else None


@dataclass
class Node:
    span: Span


# ---- expressions -------------------------------------------------------------------------


@dataclass
class Name(Node):
    name: str


@dataclass
class Const(Node):
    value: int | float | str


@dataclass
class ListExpr(Node):
    items: list[Node]


@dataclass
class DictExpr(Node):
    pairs: list[tuple[Node, Node]]


@dataclass
class Comprehension(Node):
    """`[elem for names in source]`, or a dict one when `key` is set."""

    key: Node | None
    elem: Node
    names: list[str]
    source: Node


@dataclass
class UnaryOp(Node):
    op: str  # 'not' '-' '+' 'round' 'indicator'
    operand: Node


@dataclass
class BinOp(Node):
    op: str  # + - * / % ^ == < <= > >= and or in
    left: Node
    right: Node


@dataclass
class Ternary(Node):
    then: Node
    cond: Node
    other: Node


@dataclass
class Index(Node):
    target: Node
    index: Node


@dataclass
class Call(Node):
    func: Node
    args: list[Node]


@dataclass
class Select(Node):
    keys: Node
    queries: Node
    op: str


@dataclass
class Aggregate(Node):
    selector: Node
    sop: Node
    default: Node | None


@dataclass
class Builtin(Node):
    """`range(...)`, `zip(...)`, `len(...)`: keyword-functions of the original."""

    name: str
    args: list[Node]


# ---- statements --------------------------------------------------------------------------


@dataclass
class ExprStmt(Node):
    expr: Node


@dataclass
class Assign(Node):
    names: list[str]
    values: list[Node]


@dataclass
class Draw(Node):
    expr: Node
    example: Node | None


@dataclass
class Load(Node):
    path: str


@dataclass
class FuncDef(Node):
    name: str
    params: list[str]
    body: list[Node]
    returns: list[Node]


@dataclass
class ForLoop(Node):
    names: list[str]
    source: Node
    body: list[Node]


@dataclass
class Comment(Node):
    text: str


@dataclass
class ReplCommand(Node):
    """`set example`, `show example`, toggles and `exit`; `kind` is 's-op', 'selector' or None."""

    command: str  # 'set_example' 'show_example' 'examples' 'full_seq_display' 'exit'
    kind: str | None = None
    value: Node | None = None
    flag: bool | None = None
