"""'The same s-op': structural equality of IR subgraphs, by hash-consing."""

from __future__ import annotations

from compiler.normalise import PrefixCount, Width
from rasp import ir


class StructKeys:
    """Hash-consing of IR structure: each distinct subgraph (up to node identity) gets a small
    integer, so that keys hash and compare in constant time. A key built of nested tuples
    would be hashed along the subgraph's tree expansion, exponential in a DAG's depth."""

    def __init__(self) -> None:
        self.by_node: dict[int, int] = {}  # node id -> key
        self.table: dict[tuple, int] = {}  # (local shape, child keys...) -> key

    def of(self, node: ir.IRNode) -> int:
        got = self.by_node.get(node.id)
        if got is not None:
            return got
        todo = ir.walk([node], lambda n: tuple(c for c in n.children() if c.id not in self.by_node))
        for n in todo:  # children first, each node once: linear in distinct nodes
            shape = _shape(n) + tuple(self.by_node[c.id] for c in n.children())
            self.by_node[n.id] = self.table.setdefault(shape, len(self.table))
        return self.by_node[node.id]


def _shape(node: ir.IRNode) -> tuple:
    """What a node is, apart from its children."""
    match node:
        case ir.Tokens(conversion=c):
            return ("tokens", c)
        case ir.Indices():
            return ("indices",)
        case ir.Full(value=v):
            return ("full", type(v).__name__, repr(v))
        case ir.Map():
            return ("map", node.op, type(node.const).__name__, repr(node.const), node.const_side)
        case ir.SequenceMap():
            return ("seqmap", node.op)
        case ir.Aggregate():
            return ("aggregate", type(node.default).__name__, repr(node.default))
        case ir.Select():
            return ("select", node.op)
        case ir.SelectorCombine():
            return ("combine", node.op)
        case Width():
            return ("width", node.is_length)
        case PrefixCount():
            return ("prefix count",)
    return (type(node).__name__, node.id)
