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
from typing import TYPE_CHECKING, Any

import click
import networkx as nx

from rasp import ir
from rasp.command import fail, load_or_exit, output_name
from rasp.compiled import (
    NoCompiler,
    compile_ticking,
    counted,
    head_selector,
    heads,
    placements,
    root,
)
from rasp.env import Environment
from rasp.errors import RaspError
from rasp.examples import Header, SpecMissing, compile_spec, parse_input_literal
from rasp.graph import (
    NO_NAMES,
    GraphNode,
    Placement,
    TopLevel,
    build_graph,
    colour,
    layered_layout,
    legend,
    top_level,
)

if TYPE_CHECKING:  # the app names the compiler's types; it imports it only to compile
    from compiler import CompiledProgram

FORMATS = ("svg", "png", "pdf")

# ---- graphviz ------------------------------------------------------------------------------


def to_dot(graph: nx.DiGraph, title: str = "") -> str:
    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [
        "digraph rasp {",
        "  rankdir=TB;",
        '  fontname="Helvetica";',
        f"  labelloc=t; label={quote(title)};",
        '  node [fontname="Helvetica", fontsize=11, style="filled,rounded"];',
    ]
    for nid, data in graph.nodes(data=True):
        info: GraphNode = data["info"]
        shape = "ellipse" if info.selector else "box"
        lines.append(
            f"  n{nid} [label={quote(info.label)}, shape={shape}, fillcolor={quote(colour(info))}];"
        )
    lines += [f"  n{a} -> n{b};" for a, b in graph.edges]
    keys = legend(graph)
    if keys:
        rows = "".join(
            f'<TR><TD BGCOLOR="{shade}" WIDTH="18"></TD><TD ALIGN="LEFT">{meaning}</TD></TR>'
            for shade, meaning in keys
        )
        lines += [
            "  subgraph cluster_legend {",
            '    label="colour"; fontsize=10;',
            '    legend [shape=plaintext, style="", label=<<TABLE BORDER="0" '
            f'CELLSPACING="2">{rows}</TABLE>>];',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_dot(graph: nx.DiGraph, path: str, fmt: str, dot: str, title: str) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as f:
        f.write(to_dot(graph, title))
    try:
        done = subprocess.run(
            [dot, f"-T{fmt}", "-o", path, f.name], capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        os.unlink(f.name)
    return done.returncode == 0


# ---- matplotlib ----------------------------------------------------------------------------


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
        boxes[nid] = ax.text(
            *pos[nid],
            info.label,
            ha="center",
            va="center",
            fontsize=8,
            family="DejaVu Sans",
            zorder=3,
            bbox={"boxstyle": style, "facecolor": colour(info), "edgecolor": "#555555"},
        )
    for (a, b), line in paths.items():
        if len(line) > 2:  # through the waypoints, behind the boxes
            ax.plot(*zip(*line[:-1], strict=True), color="#555555", linewidth=1, zorder=1)
        start = boxes[a].get_bbox_patch() if len(line) == 2 else None
        # Drawn after the boxes, so it is clipped to their (then known) outlines.
        ax.annotate(
            "",
            xy=line[-1],
            xytext=line[-2],
            zorder=4,
            arrowprops={
                "arrowstyle": "-|>",
                "color": "#555555",
                "shrinkA": 0 if start is None else 2,
                "shrinkB": 2,
                "patchA": start,
                "patchB": boxes[b].get_bbox_patch(),
            },
        )
    if keys:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(facecolor=c, edgecolor="#555555", label=m) for c, m in keys],
            loc="lower left",
            fontsize=8,
            title="colour",
            title_fontsize=8,
            frameon=False,
        )
    with rc_context({"svg.fonttype": "none"}):  # SVG text stays text: smaller, searchable
        fig.savefig(path, format=fmt, dpi=120)


def render(
    root: ir.IRNode,
    path: str,
    example: Any = None,
    engine: str = "auto",
    placed: dict[int, Placement] | None = None,
    title: str | None = None,
    internals: bool = False,
    names: TopLevel = NO_NAMES,
) -> nx.DiGraph:
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


def _head_selectors(prog: CompiledProgram) -> dict[int, Placement]:
    """Selectors of the program the compiled heads attend with (the compiler places no value
    of a selector, so this is where one is computed)."""
    found: dict[int, Placement] = {}
    for layer, _h, head in heads(prog):
        sel = head_selector(prog, head)
        if sel is not None:
            found[sel.id] = (layer, "attention")
    return found


def compiled_placements(
    env: Environment, expr: str, header: Header
) -> tuple[CompiledProgram, str] | None:
    """Compile `expr` with the file's `# compile:` vocabulary and length: (the compiled
    program, a title), or None without a header or a compiler. CompileErrors propagate."""
    try:
        spec = compile_spec(header, expr)
    except SpecMissing:
        return None
    try:
        prog = compile_ticking(env, expr, spec.vocab, spec.max_len)
    except NoCompiler:
        return None
    st = prog.stats
    title = (
        f"{expr}: compiled for vocab {','.join(map(str, spec.vocab))}, max length "
        f"{spec.max_len}: {counted(st['layers'], 'layer')}, {counted(st['heads'], 'head')}, "
        "d_model "
        f"{st['d_model']}"
    )
    return prog, title


def layer_placements(prog: CompiledProgram) -> dict[int, Placement]:
    """Where a compiled program computes each node: layout entries, heads' selectors, and
    the always-embedded input."""
    placed = {i: (v.layer, v.sublayer) for i, v in placements(prog).items()}
    placed.update(_head_selectors(prog))
    for n in ir.walk(root(prog)):
        if isinstance(n, ir.Tokens | ir.Indices):
            placed.setdefault(n.id, (-1, "embedding"))
    return placed


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-e",
    "--expr",
    help="The s-op or selector to draw (a name or an expression). "
    "Default: the header's compiled name, else the last s-op.",
)
@click.option("-o", "--output", help="OUT.svg, OUT.png or OUT.pdf. Default: NAME.svg.")
@click.option(
    "-i",
    "--input",
    "given",
    help="Annotate each s-op with its values on this input (default: the header's first example).",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "dot", "matplotlib"]),
    default="auto",
    show_default=True,
    help="auto: graphviz's dot when installed, else matplotlib.",
)
@click.option(
    "--layers/--no-layers",
    default=True,
    show_default=True,
    help="Compile (with the file's `# compile:` header) and colour each node by the "
    "layer that computes it; else colour by kind.",
)
@click.option(
    "--internals",
    is_flag=True,
    help="Draw the steps inside library functions too (selector_width's at0, "
    "share0, ...); by default each call is one node.",
)
def draw(
    file: str,
    expr: str | None,
    output: str | None,
    given: str | None,
    engine: str,
    layers: bool,
    internals: bool,
) -> None:
    """Draw the computation graph of an s-op in FILE."""
    program = load_or_exit(file)
    env, header = program.env, program.header
    try:
        if expr is None:
            candidates = program.default_exprs()
            if not candidates:
                fail(f"{file} defines no s-op to draw: give one with -e")
            expr = candidates[-1]
        node = env.expression(expr)
        if not isinstance(node, ir.IRNode):
            fail(f"{expr} is not an s-op or a selector, so it has no graph")
        example = (
            parse_input_literal(given)
            if given is not None
            else (header.examples[0].input if header.examples else None)
        )
        output = output or output_name(expr, ".svg")
        placed, title = None, None
        compiled = (
            compiled_placements(env, expr, header) if layers and isinstance(node, ir.SOp) else None
        )
        if compiled is not None:
            prog, title = compiled
            node = root(prog)
            placed = layer_placements(prog)
        graph = render(node, output, example, engine, placed, title, internals, top_level(env))
    except RaspError as err:
        fail(err)
    except (ValueError, RuntimeError, OSError) as err:
        fail(str(err))
    hidden = len(list(ir.walk(node))) - graph.number_of_nodes()
    click.echo(f"{output}: {graph.number_of_nodes()} nodes, drawn with {graph.graph['engine']}")
    if hidden:
        click.echo(f"({hidden} library steps folded into their calls: --internals draws them)")
