"""Stable references from a compiled model to the program it was compiled from.

IR ids are process-local (a counter), so a model file cannot name nodes by them. A node is
named instead by its position in `ir.walk(root)` of the compiled expression: the same program
and expression give the same walk in any process. A head's selector may be one the compiler
built from program nodes (a prefix count's `select(x, 1, ==) and upto`, the `a and b` part of
a split width): it is referenced as that construction over referenced nodes, so the tools can
rebuild it and evaluate it with the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasp import ir


@dataclass(frozen=True)
class NodeRef:
    """A node of the program: its index in the compiled expression's walk."""

    node: int


@dataclass(frozen=True)
class ConstRef:
    """An atom at every position (`ir.Full`), as in `select(x, 1, ==)`."""

    value: Any


@dataclass(frozen=True)
class SelectRef:
    """`select(keys, queries, op)` over referenced s-ops."""

    op: str
    keys: Ref
    queries: Ref


@dataclass(frozen=True)
class CombineRef:
    """`a and b`, `a or b`, `not a` over referenced selectors."""

    op: str
    inputs: tuple[Ref, ...]


Ref = NodeRef | ConstRef | SelectRef | CombineRef


def walk_index(root: ir.IRNode) -> dict[int, int]:
    """IR id → stable index, for every node of the expression."""
    return {n.id: i for i, n in enumerate(ir.walk(root))}


def ref_of(node: ir.IRNode, index: dict[int, int]) -> Ref | None:
    """The reference of a node (or of what the compiler built from program nodes); None when
    it reads something no reference names."""
    if node.id in index:
        return NodeRef(index[node.id])
    if isinstance(node, ir.Full):
        return ConstRef(node.value)
    if isinstance(node, ir.Select):
        keys, queries = ref_of(node.keys, index), ref_of(node.queries, index)
        return None if keys is None or queries is None else SelectRef(node.op, keys, queries)
    if isinstance(node, ir.SelectorCombine):
        inputs = [ref_of(s, index) for s in node.inputs]
        if any(r is None for r in inputs):
            return None
        return CombineRef(node.op, tuple(r for r in inputs if r is not None))
    return None


def resolve(ref: Ref, nodes: list[ir.IRNode]) -> ir.IRNode | None:
    """The node a reference names in `nodes` (the expression's walk), rebuilt where the
    compiler built it; None when the program is not the one compiled (index out of range or
    a node of the wrong kind)."""
    match ref:
        case NodeRef(node=i):
            return nodes[i] if 0 <= i < len(nodes) else None
        case ConstRef(value=v):
            return ir.Full(value=v)
        case SelectRef(op=op, keys=k, queries=q):
            keys, queries = resolve(k, nodes), resolve(q, nodes)
            if not isinstance(keys, ir.SOp) or not isinstance(queries, ir.SOp):
                return None
            return ir.Select(keys=keys, queries=queries, op=op)
        case CombineRef(op=op, inputs=inputs):
            parts = [resolve(r, nodes) for r in inputs]
            sels = [p for p in parts if isinstance(p, ir.Selector)]
            return (
                ir.SelectorCombine(op=op, inputs=tuple(sels)) if len(sels) == len(parts) else None
            )
    return None  # pragma: no cover - the match is exhaustive


def to_json(ref: Ref) -> dict[str, Any]:
    match ref:
        case NodeRef(node=i):
            return {"node": i}
        case ConstRef(value=v):
            return {"const": list(v) if isinstance(v, tuple) else v}
        case SelectRef(op=op, keys=k, queries=q):
            return {"select": op, "keys": to_json(k), "queries": to_json(q)}
        case CombineRef(op=op, inputs=inputs):
            return {"combine": op, "inputs": [to_json(r) for r in inputs]}
    raise TypeError(f"not a reference: {ref!r}")  # pragma: no cover


def from_json(data: Any) -> Ref:
    """A reference read back; a ValueError says what is malformed."""
    if isinstance(data, dict):
        if isinstance(data.get("node"), int) and len(data) == 1:
            return NodeRef(data["node"])
        if "const" in data and len(data) == 1:
            return ConstRef(data["const"])
        if isinstance(data.get("select"), str) and data["select"] in ir.COMPARISONS:
            return SelectRef(
                data["select"], from_json(data.get("keys")), from_json(data.get("queries"))
            )
        if data.get("combine") in ("and", "or", "not") and isinstance(data.get("inputs"), list):
            return CombineRef(data["combine"], tuple(from_json(r) for r in data["inputs"]))
    raise ValueError(f"not a node reference: {data!r}")
