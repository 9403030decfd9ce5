"""`rasp draw`: the computation graph of an s-op, as SVG, PNG or PDF.

Graphviz's `dot` lays the graph out when it is installed; otherwise networkx places the nodes
in layers (inputs at the top, the result at the bottom) and matplotlib draws them, so drawing
never depends on a program outside Python. Nodes are labelled with their name, source text and
values on an example, and coloured by the layer the compiler puts them in (when the file's
header says how to compile it), else by what they become: attention, MLP or input.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from typing import Any

import click
import networkx as nx

from . import ir
from .env import normalise_input
from .errors import RaspError
from .format import small_str

FORMATS = ("svg", "png", "pdf")
MAX_TEXT = 32  # characters of source text per label line
LIBRARY_FILE = "stdlib.rasp"  # the path the environment gives the standard library's nodes

# Colours by node kind: inputs grey, elementwise (MLP) blue, selectors and attention orange.
KIND_COLOURS = {
    "input": "#e8e8e8",
    "mlp": "#cfe2f3",
    "selector": "#fde9c9",
    "attention": "#f9cb9c",
}
KIND_NAMES = {"input": "input", "mlp": "MLP (elementwise)", "selector": "selector",
              "attention": "attention (aggregate)"}
FOLDED = "#ffffff"  # compiled, but folded into a later block
LAYER_COLOURS = ("#cfe2f3", "#f9cb9c", "#d9ead3", "#fff2cc", "#ead1dc", "#d0e0e3", "#f4cccc",
                 "#d9d2e9")


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
    return "\n".join(textwrap.wrap(" ".join(text.split()), MAX_TEXT, max_lines=2,
                                   placeholder=" …"))


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
        lines.append(shown if len(shown) <= MAX_TEXT else shown[:MAX_TEXT - 2] + "…]")
    return "\n".join(lines)


@dataclass(frozen=True)
class TopLevel:
    """The ids of nodes bound to top-level names: the user's (always drawn) and the
    library's (`length`: drawn where the user's code reads it, hidden inside the library)."""

    user: frozenset[int] = frozenset()
    library: frozenset[int] = frozenset()


def top_level(env: Any) -> TopLevel:
    def ids(scope: Any) -> frozenset[int]:
        return frozenset(v.id for v in scope.vars.values() if isinstance(v, ir.IRNode))

    return TopLevel(ids(env.top), ids(env.base))


def visible_inputs(root: ir.IRNode, internals: bool, names: TopLevel = TopLevel()
                   ) -> dict[int, tuple[list[ir.IRNode], int]]:
    """For each node drawn: the drawn nodes it reads (through hidden library steps, when
    `internals` is False) and how many hidden steps it stands for. A hidden step is a node
    the standard library built inside a function (`at0`, `share0`, ...), or a library value
    that only the library reads (`full_s` inside `length`)."""
    def shown(node: ir.IRNode, read_by_library: bool) -> bool:
        if internals or node.path != LIBRARY_FILE or node.id in names.user:
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
        pending = [(child, node.path == LIBRARY_FILE) for child in node.children()]
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


def build_graph(root: ir.IRNode, example: Any = None,
                placed: dict[int, Placement] | None = None,
                internals: bool = True, names: TopLevel = TopLevel()) -> nx.DiGraph:
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
        graph.add_node(node.id, info=GraphNode(node.id, label, kind_of(node),
                                               isinstance(node, ir.Selector), where,
                                               placed is not None, hidden))
        for child in inputs:
            graph.add_edge(child.id, node.id)
    return graph


def legend(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """(colour, meaning) for each colour the graph uses, in a fixed order."""
    infos = [data["info"] for _n, data in graph.nodes(data=True)]
    if infos and infos[0].compiled:
        layers = sorted({i.placement[0] for i in infos if i.placement is not None})
        entries = [(_colour_of_layer(layer), "embedding" if layer < 0 else f"layer {layer}")
                   for layer in layers]
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
    from .interpreter import Column, evaluate_nodes

    memo = evaluate_nodes([root], [normalise_input(example)])
    return {nid: [v.values[c] for c in v.codes[0]] for nid, v in memo.items()
            if isinstance(v, Column)}


def _colour_of_layer(layer: int) -> str:
    return KIND_COLOURS["input"] if layer < 0 else LAYER_COLOURS[layer % len(LAYER_COLOURS)]


def _colour(info: GraphNode) -> str:
    if not info.compiled:
        return KIND_COLOURS[info.kind]
    if info.placement is None:
        return FOLDED
    return _colour_of_layer(info.placement[0])


# ---- graphviz ------------------------------------------------------------------------------


def to_dot(graph: nx.DiGraph, title: str = "") -> str:
    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = ["digraph rasp {", "  rankdir=TB;", '  fontname="Helvetica";',
             f"  labelloc=t; label={quote(title)};",
             '  node [fontname="Helvetica", fontsize=11, style="filled,rounded"];']
    for nid, data in graph.nodes(data=True):
        info: GraphNode = data["info"]
        shape = "ellipse" if info.selector else "box"
        lines.append(f"  n{nid} [label={quote(info.label)}, shape={shape}, "
                     f"fillcolor={quote(_colour(info))}];")
    lines += [f"  n{a} -> n{b};" for a, b in graph.edges]
    keys = legend(graph)
    if keys:
        rows = "".join(f'<TR><TD BGCOLOR="{colour}" WIDTH="18"></TD><TD ALIGN="LEFT">'
                       f"{meaning}</TD></TR>" for colour, meaning in keys)
        lines += ["  subgraph cluster_legend {", '    label="colour"; fontsize=10;',
                  '    legend [shape=plaintext, style="", label=<<TABLE BORDER="0" '
                  f'CELLSPACING="2">{rows}</TABLE>>];', "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_dot(graph: nx.DiGraph, path: str, fmt: str, dot: str, title: str) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as f:
        f.write(to_dot(graph, title))
    try:
        done = subprocess.run([dot, f"-T{fmt}", "-o", path, f.name], capture_output=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        os.unlink(f.name)
    return done.returncode == 0


# ---- matplotlib ----------------------------------------------------------------------------


Point = tuple[float, float]


def layered_layout(graph: nx.DiGraph) -> tuple[dict[int, Point], dict[tuple[int, int],
                                                                     list[Point]]]:
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
    paths = {edge: [pos[edge[0]], *(pos[p] for p in chain), pos[edge[1]]]
             for edge, chain in waypoints.items()}
    return {n: pos[n] for n in graph.nodes}, paths


def _render_matplotlib(graph: nx.DiGraph, path: str, fmt: str, title: str) -> None:
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    pos, paths = layered_layout(graph)
    xs = [x for path in paths.values() for x, _ in path] + [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    width = max(4.0, 2.6 * (max(xs) - min(xs) + 1))
    keys = legend(graph)
    below = 0.3 * len(keys) + 0.4 if keys else 0.0  # room for the legend under the graph
    title = textwrap.fill(title, max(30, int(width * 11)))  # ~11 characters an inch at 9 pt
    above = 0.25 * title.count("\n")
    height = max(2.5, 1.4 * (max(ys) - min(ys) + 1 + below + above) + 0.6)
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6 - below, max(ys) + 0.9 + above)
    ax.text(min(xs) - 0.6, max(ys) + 0.75 + above, title, ha="left", va="top", fontsize=9)
    boxes = {}
    for nid, data in graph.nodes(data=True):
        info: GraphNode = data["info"]
        style = "round,pad=0.4" if info.selector else "square,pad=0.4"
        boxes[nid] = ax.text(*pos[nid], info.label, ha="center", va="center", fontsize=8,
                             family="DejaVu Sans", zorder=3,
                             bbox={"boxstyle": style, "facecolor": _colour(info),
                                   "edgecolor": "#555555"})
    for (a, b), line in paths.items():
        if len(line) > 2:  # through the waypoints, behind the boxes
            ax.plot(*zip(*line[:-1], strict=True), color="#555555", linewidth=1, zorder=1)
        start = boxes[a].get_bbox_patch() if len(line) == 2 else None
        # Drawn after the boxes, so it is clipped to their (then known) outlines.
        ax.annotate("", xy=line[-1], xytext=line[-2], zorder=4,
                    arrowprops={"arrowstyle": "-|>", "color": "#555555",
                                "shrinkA": 0 if start is None else 2,
                                "shrinkB": 2, "patchA": start,
                                "patchB": boxes[b].get_bbox_patch()})
    if keys:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(facecolor=c, edgecolor="#555555", label=m) for c, m in keys],
                  loc="lower left", fontsize=8, title="colour", title_fontsize=8,
                  frameon=False)
    with rc_context({"svg.fonttype": "none"}):  # SVG text stays text: smaller, searchable
        fig.savefig(path, format=fmt, dpi=120)


def render(root: ir.IRNode, path: str, example: Any = None, engine: str = "auto",
           placed: dict[int, Placement] | None = None, title: str | None = None,
           internals: bool = False, names: TopLevel = TopLevel()) -> nx.DiGraph:
    """Draw `root`'s graph to `path` (format from its extension). Returns the graph drawn,
    its `engine` attribute naming the engine used."""
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot draw to {path!r}: use .svg, .png or .pdf")
    graph = build_graph(root, example, placed, internals, names)
    if title is None:
        title = root.label
    dot = shutil.which("dot") if engine in ("auto", "dot") else None
    if engine == "dot" and dot is None:
        raise RuntimeError("graphviz's dot is not installed (try --engine matplotlib)")
    if dot is not None and _render_dot(graph, path, fmt, dot, title):
        graph.graph["engine"] = "dot"
        return graph
    if engine == "dot":
        raise RuntimeError("graphviz's dot failed to draw the graph")
    _render_matplotlib(graph, path, fmt, title)
    graph.graph["engine"] = "matplotlib"
    return graph


def _head_selectors(prog: Any) -> dict[int, Placement]:
    """Selectors of heads the compiler built from a pattern (such as selector_width), known
    only by their label in the plan."""
    from .repl_compile import heads

    by_label: dict[str, list[ir.IRNode]] = {}
    for n in ir.walk(prog.node):
        if isinstance(n, ir.Selector):
            by_label.setdefault(n.label, []).append(n)
    return {n.id: (layer, "attention") for layer, _h, block in heads(prog)
            for n in by_label.get(block.get("selector", ""), [])}


def compiled_placements(env: Any, expr: str, spec: Any) -> tuple[Any, str] | None:
    """Compile `expr` with the file's `# compile:` vocabulary and length (`spec`): (the
    compiled program, a title), or None without a header or a compiler. CompileErrors
    propagate."""
    from .repl_compile import NoCompiler, compile_expr

    if spec is None:
        return None
    try:
        prog = compile_expr(env, expr, spec.vocab, spec.max_len)
    except NoCompiler:
        return None
    st = prog.stats
    title = (f"{expr}: compiled for vocab {','.join(map(str, spec.vocab))}, max length "
             f"{spec.max_len}: {_count(st['layers'], 'layer')}, {_count(st['heads'], 'head')}, "
             "d_model "
             f"{st['d_model']}")
    return prog, title


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def layer_placements(prog: Any) -> dict[int, Placement]:
    """Where a compiled program computes each node: layout entries, heads' selectors, and
    the always-embedded input."""
    from .repl_compile import placements

    placed = {i: (e["layer"], e["sublayer"]) for i, e in placements(prog).items()}
    placed.update(_head_selectors(prog))
    for n in ir.walk(prog.node):
        if isinstance(n, ir.Tokens | ir.Indices):
            placed.setdefault(n.id, (-1, "embedding"))
    return placed


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-e", "--expr", help="The s-op or selector to draw (a name or an expression). "
                                   "Default: the header's compiled name, else the last s-op.")
@click.option("-o", "--output", help="OUT.svg, OUT.png or OUT.pdf. Default: NAME.svg.")
@click.option("-i", "--input", "given", help="Annotate each s-op with its values on this input "
                                             "(default: the header's first example).")
@click.option("--engine", type=click.Choice(["auto", "dot", "matplotlib"]), default="auto",
              show_default=True, help="auto: graphviz's dot when installed, else matplotlib.")
@click.option("--layers/--no-layers", default=True, show_default=True,
              help="Compile (with the file's `# compile:` header) and colour each node by the "
                   "layer that computes it; else colour by kind.")
@click.option("--internals", is_flag=True,
              help="Draw the steps inside library functions too (selector_width's at0, "
                   "share0, ...); by default each call is one node.")
def draw(file: str, expr: str | None, output: str | None, given: str | None,
         engine: str, layers: bool, internals: bool) -> None:
    """Draw the computation graph of an s-op in FILE."""
    from .cli import _default_exprs, fail, load_program
    from .examples import parse_input_literal

    program = load_program(file)
    env, header = program.env, program.header
    try:
        if expr is None:
            candidates = _default_exprs(header, env)
            if not candidates:
                fail(f"{file} defines no s-op to draw: give one with -e")
            expr = candidates[-1]
        node = env.expression(expr)
        if not isinstance(node, ir.IRNode):
            fail(f"{expr} is not an s-op or a selector, so it has no graph")
        example = parse_input_literal(given) if given is not None else (
            header.examples[0].input if header.examples else None)
        output = output or "".join(c if c.isalnum() or c in "_-" else "_" for c in expr) + ".svg"
        placed, title = None, None
        compiled = compiled_placements(env, expr, header.compile) if layers and isinstance(
            node, ir.SOp) else None
        if compiled is not None:
            prog, title = compiled
            node = prog.node
            placed = layer_placements(prog)
        graph = render(node, output, example, engine, placed, title, internals,
                       top_level(env))
    except RaspError as err:
        fail(err)
    except (ValueError, RuntimeError, OSError) as err:
        fail(str(err))
    hidden = len(list(ir.walk(node))) - graph.number_of_nodes()
    click.echo(f"{output}: {graph.number_of_nodes()} nodes, drawn with {graph.graph['engine']}")
    if hidden:
        click.echo(f"({hidden} library steps folded into their calls: --internals draws them)")
