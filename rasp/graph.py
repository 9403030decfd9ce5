"""The computation graph of an s-op as `rasp draw` shows it: nodes, labels, colours, layout.

Built from the IR: an edge runs from each operand to the node that uses it. Steps the standard
library builds inside its functions are folded into the call that uses them unless asked for
(`internals`); nodes are coloured by compiled layer (from the compiler's placements) or else by
kind, and `legend` says what each colour means. `layered_layout` places nodes in rows for the
matplotlib renderer (graphviz lays out its own).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import networkx as nx

from rasp import ir
from rasp.format import small_str
from rasp.interpreter import Column, evaluate_nodes
from rasp.source import LIBRARY_PATH, normalise_input

MAX_TEXT = 32  # characters of source text per label line

# Colours by node kind: inputs grey, elementwise (MLP) blue, selectors and attention orange.
KIND_COLOURS = {
    "input": "#e8e8e8",
    "mlp": "#cfe2f3",
    "selector": "#fde9c9",
    "attention": "#f9cb9c",
}
KIND_NAMES = {
    "input": "input",
    "mlp": "MLP (elementwise)",
    "selector": "selector",
    "attention": "attention (aggregate)",
}
FOLDED = "#ffffff"  # compiled, but folded into a later block
LAYER_COLOURS = (
    "#cfe2f3",
    "#f9cb9c",
    "#d9ead3",
    "#fff2cc",
    "#ead1dc",
    "#d0e0e3",
    "#f4cccc",
    "#d9d2e9",
)


# Where the compiled model computes a node: (layer, sublayer); layer -1 is the embedding.
Placement = tuple[int, str]


@dataclass
class GraphNode:
    id: int
    label: str
    kind: str  # 'input' 'mlp' 'selector' 'attention'
    selector: bool
    placement: Placement | None = None
    compiled: bool = False  # colour by placement (unplaced nodes are folded into others)
    hidden: int = 0  # library steps folded into this node (drawn without internals)


def kind_of(node: ir.IRNode) -> str:
    if isinstance(node, ir.Tokens | ir.Indices | ir.Full):
        return "input"
    if isinstance(node, ir.Aggregate):
        return "attention"
    if isinstance(node, ir.Selector):
        return "selector"
    return "mlp"


def _short(text: str) -> str:
    """At most two lines of source text: labels stay readable in wide graphs."""
    return "\n".join(textwrap.wrap(" ".join(text.split()), MAX_TEXT, max_lines=2, placeholder=" …"))


def _operation(node: ir.IRNode) -> str:
    """What a nameless node without source text does (library internals, lifted atoms)."""
    match node:
        case ir.Full(value=v):
            return repr(v)
        case ir.Map(op=op):
            return f"map {op}"
        case ir.SequenceMap(op=op):
            return f"sequence map {op}"
        case ir.Select(op=op):
            return f"select {op}"
        case ir.SelectorCombine(op=op):
            return f"selector {op}"
    return type(node).__name__.lower()


def node_label(node: ir.IRNode, values: list[Any] | None = None, brief: bool = False) -> str:
    """The name, then the source text it was written as (when it adds anything, and not for
    a `brief` label, whose text would be a library's inside), then values."""
    text = _short(node.span.text) if node.span is not None and node.span.text else ""
    if isinstance(node, ir.Full) or (brief and node.name):  # a lifted atom's span is around it
        text = ""
    lines = [node.name or text or _operation(node)]
    if node.name and text and text != node.name:
        lines.append(text)
    if values is not None:
        shown = "[" + ", ".join(small_str(v) for v in values) + "]"
        lines.append(shown if len(shown) <= MAX_TEXT else shown[: MAX_TEXT - 2] + "…]")
    return "\n".join(lines)


@dataclass(frozen=True)
class TopLevel:
    """The ids of nodes bound to top-level names: the user's (always drawn) and the
    library's (`length`: drawn where the user's code reads it, hidden inside the library)."""

    user: frozenset[int] = frozenset()
    library: frozenset[int] = frozenset()


NO_NAMES = TopLevel()


def top_level(env: Any) -> TopLevel:
    def ids(scope: Any) -> frozenset[int]:
        return frozenset(v.id for v in scope.vars.values() if isinstance(v, ir.IRNode))

    return TopLevel(ids(env.top), ids(env.base))


def visible_inputs(
    root: ir.IRNode, internals: bool, names: TopLevel = NO_NAMES
) -> dict[int, tuple[list[ir.IRNode], int]]:
    """For each node drawn: the drawn nodes it reads (through hidden library steps, when
    `internals` is False) and how many hidden steps it stands for. A hidden step is a node
    the standard library built inside a function (`at0`, `share0`, ...), or a library value
    that only the library reads (`full_s` inside `length`)."""

    def shown(node: ir.IRNode, read_by_library: bool) -> bool:
        if internals or node.path != LIBRARY_PATH or node.id in names.user:
            return True
        return node.id in names.library and not read_by_library

    found: dict[int, tuple[list[ir.IRNode], int]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.id in found:
            continue
        inputs: dict[int, ir.IRNode] = {}
        folded: set[int] = set()
        pending = [(child, node.path == LIBRARY_PATH) for child in node.children()]
        while pending:
            child, by_library = pending.pop()
            if shown(child, by_library):
                inputs.setdefault(child.id, child)
            elif child.id not in folded:
                folded.add(child.id)
                pending += [(grandchild, True) for grandchild in child.children()]
        found[node.id] = (list(inputs.values()), len(folded))
        stack += inputs.values()
    return found


def build_graph(
    root: ir.IRNode,
    example: Any = None,
    placed: dict[int, Placement] | None = None,
    internals: bool = True,
    names: TopLevel = NO_NAMES,
) -> nx.DiGraph:
    """The DAG under `root`: an edge runs from each operand to the node that uses it.
    `placed` (from the compiler) adds each node's layer to its label and colour. Without
    `internals`, the steps inside library functions are folded into the node that uses them
    (`selector_width` is one node, not twelve)."""
    values = _values(root, example) if example is not None else {}
    placed = _with_selectors(root, placed) if placed is not None else None
    graph = nx.DiGraph()
    shown = visible_inputs(root, internals, names)
    for node in ir.walk(root):
        if node.id not in shown:
            continue
        inputs, hidden = shown[node.id]
        where = placed.get(node.id) if placed is not None else None
        label = node_label(node, values.get(node.id), brief=hidden > 0)
        if hidden:
            label += f"\n(+{hidden} library step{'s' if hidden != 1 else ''})"
        if placed is not None:
            label += "\n" + (_placement_text(where) if where else "(folded)")
        graph.add_node(
            node.id,
            info=GraphNode(
                node.id,
                label,
                kind_of(node),
                isinstance(node, ir.Selector),
                where,
                placed is not None,
                hidden,
            ),
        )
        for child in inputs:
            graph.add_edge(child.id, node.id)
    return graph


def legend(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """(colour, meaning) for each colour the graph uses, in a fixed order."""
    infos = [data["info"] for _n, data in graph.nodes(data=True)]
    if infos and infos[0].compiled:
        layers = sorted({i.placement[0] for i in infos if i.placement is not None})
        entries = [
            (_colour_of_layer(layer), "embedding" if layer < 0 else f"layer {layer}")
            for layer in layers
        ]
        if any(i.placement is None for i in infos):
            entries.append((FOLDED, "folded into a later block"))
        return entries
    kinds = {i.kind for i in infos}
    return [(KIND_COLOURS[k], KIND_NAMES[k]) for k in KIND_COLOURS if k in kinds]


def _with_selectors(root: ir.IRNode, placed: dict[int, Placement]) -> dict[int, Placement]:
    """A selector is computed by the attention head of the aggregate that uses it."""
    placed = dict(placed)
    for node in ir.walk(root):
        if isinstance(node, ir.Aggregate) and node.id in placed:
            stack = [node.selector]
            while stack:
                sel = stack.pop()
                if isinstance(sel, ir.Selector) and sel.id not in placed:
                    placed[sel.id] = (placed[node.id][0], "attention")
                    stack += list(sel.children())
    return placed


def _placement_text(where: Placement) -> str:
    layer, sublayer = where
    if layer < 0:
        return "embedding"
    return f"layer {layer} {'MLP' if sublayer == 'mlp' else sublayer}"


def _values(root: ir.IRNode, example: Any) -> dict[int, list[Any]]:
    """Each s-op's values on the example (selectors are left unannotated)."""
    memo = evaluate_nodes([root], [normalise_input(example)])
    return {
        nid: [v.values[c] for c in v.codes[0]] for nid, v in memo.items() if isinstance(v, Column)
    }


def _colour_of_layer(layer: int) -> str:
    return KIND_COLOURS["input"] if layer < 0 else LAYER_COLOURS[layer % len(LAYER_COLOURS)]


def colour(info: GraphNode) -> str:
    if not info.compiled:
        return KIND_COLOURS[info.kind]
    if info.placement is None:
        return FOLDED
    return _colour_of_layer(info.placement[0])


Point = tuple[float, float]


def layered_layout(
    graph: nx.DiGraph,
) -> tuple[dict[int, Point], dict[tuple[int, int], list[Point]]]:
    """A layered (Sugiyama-style) layout: inputs on the top row, every node one row below its
    deepest operand. An edge that skips rows runs through a waypoint on each row it crosses,
    ordered with the nodes, so it passes beside them rather than through them. Returns node
    positions and each edge's polyline."""
    depth: dict[Any, int] = {}
    for nid in nx.topological_sort(graph):
        depth[nid] = 1 + max((depth[p] for p in graph.predecessors(nid)), default=-1)
    aug = nx.DiGraph()
    aug.add_nodes_from(graph.nodes)  # the walk's order: operands first, stable
    waypoints: dict[tuple[int, int], list[Any]] = {}
    for a, b in graph.edges:
        prev, chain = a, []
        for d in range(depth[a] + 1, depth[b]):
            point = ("via", a, b, d)
            depth[point] = d
            aug.add_edge(prev, point)
            prev = point
            chain.append(point)
        aug.add_edge(prev, b)
        waypoints[(a, b)] = chain
    rows: dict[int, list[Any]] = {}
    for n in aug.nodes:
        rows.setdefault(depth[n], []).append(n)
    x: dict[Any, float] = {}

    def place(members: list[Any]) -> None:
        for i, n in enumerate(members):
            x[n] = i - (len(members) - 1) / 2

    def mean(n: Any, neighbours) -> float:
        near = list(neighbours(n))
        return sum(x[m] for m in near) / len(near) if near else x[n]

    for members in rows.values():
        place(members)
    for _sweep in range(4):  # order rows by their neighbours' mean place: fewer crossings
        for d in sorted(rows)[1:]:
            rows[d].sort(key=lambda n: mean(n, aug.predecessors))
            place(rows[d])
        for d in sorted(rows, reverse=True)[1:]:
            rows[d].sort(key=lambda n: mean(n, aug.successors))
            place(rows[d])
    pos = {n: (x[n], float(-depth[n])) for n in aug.nodes}
    paths = {
        edge: [pos[edge[0]], *(pos[p] for p in chain), pos[edge[1]]]
        for edge, chain in waypoints.items()
    }
    return {n: pos[n] for n in graph.nodes}, paths
