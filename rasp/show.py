"""`rasp show FILE`: the program, highlighted, with what each top-level name turned out to be.

After each statement that binds names comes one `#>` line per name: its kind (s-op, selector,
function, value), its value type, and its value on the file's first example; when the file's
header says how to compile it (and the compiler is installed), also where the compiled model
keeps each s-op: layer, sublayer, encoding and residual width. The annotations are RASP
comments, so the listing is still a runnable program.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

import click
from pygments import highlight
from pygments.formatters import HtmlFormatter, Terminal256Formatter, TerminalTrueColorFormatter
from pygments.styles import get_all_styles, get_style_by_name
from pygments.util import ClassNotFound

from rasp import ast, ir
from rasp.build import Function
from rasp.command import fail
from rasp.compiled import (
    NoCompiler,
    compile_ticking,
    counted,
    head_selector,
    heads,
    placement_text,
    placements,
    root,
)
from rasp.env import Echo, Environment
from rasp.errors import RaspError
from rasp.examples import Header, load_program
from rasp.format import format_example_arg, sequence_body, sequence_type
from rasp.interpreter import evaluate_batch
from rasp.lexer import RaspLexer, TerminalStyle
from rasp.source import normalise_input

if TYPE_CHECKING:
    from compiler.manifest import Value

DEFAULT_EXAMPLE = "hello"
WIDTH = 80  # annotation lines wrap to fit a terminal


def wrap_note(note: str, width: int) -> list[str]:
    """An annotation as `#>` lines of at most `width` columns (continuations indented), so
    the listing fits a terminal and stays a program (every line a comment)."""
    width = max(width, 40)
    lines = [""]
    for chunk in re.split(r"(?<=[;,:]) ", note):  # break between items, not inside one
        joined = f"{lines[-1]} {chunk}" if lines[-1] else chunk
        if len(joined) <= width or not lines[-1]:
            lines[-1] = joined
        else:
            lines.append("#>   " + chunk)
    return [
        part
        for line in lines
        for part in textwrap.wrap(
            line, width, subsequent_indent="#>   ", break_long_words=False, break_on_hyphens=False
        )
    ]


@dataclass
class Annotation:
    name: str
    kind: str  # 's-op' 'selector' 'function' 'value'
    type: str  # 'ints', 'strings', ... for s-ops; the Python type for values; else ""
    detail: str  # the value on the first example, a signature, or the value itself

    def line(self) -> str:
        typed = f"{self.kind}, {self.type}" if self.type else self.kind
        return f"#> {self.name}: {typed}" + (f"; {self.detail}" if self.detail else "")


def _bound(echo: Echo) -> list[tuple[str, Any]]:
    if echo.kind == "load":
        found: list[tuple[str, Any]] = []
        for inner in echo.value:
            found += [(n, v) for n, v in _bound(inner) if not n.startswith("_")]
        return found
    return echo.bindings()


@dataclass
class Compiled:
    """Where the compiled header expression keeps each IR node (by id), and a summary line."""

    placed: dict[int, Value]
    nodes: set[int]  # every node of the compiled expression, placed or folded away
    root: int  # the compiled expression's node
    output_encoding: str
    summary: str
    head_layers: dict[int, list[int]] = field(default_factory=dict)  # selector id → layers


def compile_header(env: Environment, header: Header, echoes: list[Echo]) -> Compiled | None:
    """Compile the header's `# compile:` expression. When it is the right-hand side of a
    top-level assignment, the name is compiled instead, so the file's own nodes are annotated."""
    spec = header.compile
    if spec is None:
        return None
    expr = spec.expr
    wanted = " ".join(expr.split())
    for echo in echoes:
        stmt = echo.statement
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.names) == 1
            and len(stmt.values) == 1
            and " ".join(stmt.values[0].span.text.split()) == wanted
        ):
            expr = stmt.names[0]
    try:
        prog = compile_ticking(env, expr, spec.vocab, spec.max_len)
    except NoCompiler:
        return None
    except RaspError as err:
        return Compiled({}, set(), -1, "", f"#> compile {spec.expr}: {err.message.splitlines()[0]}")
    st = prog.stats
    summary = (
        f"#> compiled {spec.expr} (vocab {','.join(map(str, spec.vocab))}, max length "
        f"{spec.max_len}): {counted(st['layers'], 'layer')}, {counted(st['heads'], 'head')}"
        f", d_model {st['d_model']}, MLP hidden {st['mlp_hidden']}, "
        f"{st['params']:,} parameters"
    )
    head_layers: dict[int, list[int]] = {}
    for layer, _h, head in heads(prog):
        sel = head_selector(prog, head)
        if sel is not None:
            head_layers.setdefault(sel.id, []).append(layer)
    node = root(prog)
    return Compiled(
        placements(prog),
        {n.id for n in ir.walk(node)},
        node.id,
        prog.manifest.output.encoding,
        summary,
        head_layers,
    )


def annotate(
    name: str, value: Any, examples: list[Any], compiled: Compiled | None = None
) -> Annotation:
    """What `name` is, checked on the examples (an s-op's type is the union over them)."""
    if isinstance(value, Function):
        return Annotation(name, "function", "", value.signature())
    if isinstance(value, ir.IRNode):
        kind = "s-op" if isinstance(value, ir.SOp) else "selector"
        try:
            results = evaluate_batch(value, [normalise_input(x) for x in examples])
        except RaspError as err:
            return Annotation(name, kind, "?", f"fails on the examples: {err.message}")
        first = f"on {_cut(format_example_arg(examples[0]), 16)}: "
        if kind == "selector":
            selected = sum(sum(row) for row in results[0])
            n = len(results[0])
            detail = first + f"{selected} of {n}x{n} pairs selected"
            layers = compiled.head_layers.get(value.id) if compiled is not None else None
            if layers:
                distinct = sorted(set(layers))
                where = ("layer " if len(distinct) == 1 else "layers ") + ", ".join(
                    map(str, distinct)
                )
                detail += f"; attention pattern of {counted(len(layers), 'head')} in {where}"
            return Annotation(name, kind, "", detail)
        types = list(dict.fromkeys(sequence_type(r) for r in results))
        detail = first + _cut(sequence_body(results[0]), 40)
        if compiled is not None and value.id in compiled.placed:
            detail += "; " + placement_text(compiled.placed[value.id])
        elif (
            compiled is not None
            and value.id in compiled.nodes
            and isinstance(value, ir.Tokens | ir.Indices)
        ):
            detail += "; embedding"
        elif compiled is not None and value.id == compiled.root:
            detail += (
                f"; the model's output, read out by the unembedding ({compiled.output_encoding})"
            )
        elif compiled is not None and value.id in compiled.nodes:
            detail += "; folded into a later block (no residual dims of its own)"
        return Annotation(name, kind, "/".join(types), detail)
    shown = format_example_arg(value) if isinstance(value, str) else repr(value)
    return Annotation(name, "value", type(value).__name__, _cut(shown))


def _cut(text: str, width: int = 60) -> str:
    """A value as an annotation shows it: at most `width` characters."""
    return text if len(text) <= width else text[: width - 3] + "..."


def annotated_lines(path: str, layers: bool = True) -> list[tuple[int | None, str]]:
    """The program's lines, each with its line number in the file, and after each statement
    that binds names its `#>` annotation lines (numbered None: they are not in the file)."""
    program = load_program(path)
    source, header, env, echoes = program.source, program.header, program.env, program.echoes
    compiled = compile_header(env, header, echoes) if layers else None
    examples = [ex.input for ex in header.examples] or [DEFAULT_EXAMPLE]
    notes: dict[int, list[str]] = {}
    for echo in echoes:
        span = echo.statement.span if echo.statement is not None else None
        if span is None or not span.line:
            continue
        for name, value in _bound(echo):
            notes.setdefault(span.end_line, []).append(
                annotate(name, value, examples, compiled).line()
            )
    out: list[tuple[int | None, str]] = []
    for number, text in enumerate(source.splitlines(), start=1):
        out.append((number, text))
        indent = text[: len(text) - len(text.lstrip())]
        out += [
            (None, indent + part)
            for note in notes.get(number, [])
            for part in wrap_note(note, WIDTH - len(indent.expandtabs()))
        ]
    if compiled is not None:
        out += [(None, part) for part in wrap_note(compiled.summary, WIDTH)]
    return out


def html_page(lines: list[tuple[int | None, str]], title: str, style: str) -> str:
    """A standalone UTF-8 page: the highlighted listing beside the file's own line numbers
    (annotation lines get none, so line 7 of the file is numbered 7)."""
    formatter = HtmlFormatter(style=style, nowrap=True)
    body = highlight("\n".join(text for _n, text in lines), RaspLexer(), formatter)
    code = body.rstrip("\n").split("\n")
    numbers = "\n".join("" if n is None else str(n) for n, _text in lines)
    css = formatter.get_style_defs(".highlight")
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; }}
.linenos pre {{ color: #888; text-align: right; padding-right: 0.8em; margin: 0; }}
.highlight pre {{ margin: 0; }}
{css}
</style>
</head>
<body>
<h2>{escape(title)}</h2>
<table class="highlighttable"><tr>
<td class="linenos"><pre>{numbers}</pre></td>
<td class="code"><div class="highlight"><pre>{chr(10).join(code)}</pre></div></td>
</tr></table>
</body>
</html>
"""


def _style(name: str | None, default: str) -> Any:
    """A Pygments style by name (`rasp-terminal` is raspc's own), or a usage error."""
    name = name or default
    if name == TerminalStyle.name:
        return TerminalStyle
    try:
        get_style_by_name(name)
    except ClassNotFound:
        known = ", ".join([TerminalStyle.name, *sorted(get_all_styles())])
        raise click.BadParameter(
            f"no style {name!r}; known: {known}", param_hint="--style"
        ) from None
    return name


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--html", "as_html", is_flag=True, help="Print a standalone HTML page.")
@click.option(
    "--color/--no-color",
    default=None,
    help="Terminal colours (default: when stdout is a terminal).",
)
@click.option(
    "--style",
    help=f"A Pygments colour style: default {TerminalStyle.name} on a "
    "terminal (the terminal's own 8 colours, readable on dark and "
    "light backgrounds), friendly for --html.",
)
@click.option(
    "--layers/--no-layers",
    default=True,
    show_default=True,
    help="Compile the header's expression and say which layer of the model computes each s-op.",
)
def show(file: str, as_html: bool, color: bool | None, style: str | None, layers: bool) -> None:
    """Print FILE highlighted, each top-level name annotated with its kind, type and (compiled)
    layer."""
    chosen = _style(style, "friendly" if as_html else TerminalStyle.name)
    try:
        lines = annotated_lines(file, layers)
    except RaspError as err:
        fail(err)
    text = "\n".join(line for _n, line in lines) + "\n"
    if as_html:
        click.echo(html_page(lines, file, chosen), nl=False)
    elif color if color is not None else sys.stdout.isatty():
        formatter = (
            Terminal256Formatter(style=chosen)
            if chosen is TerminalStyle
            else TerminalTrueColorFormatter(style=chosen)
        )
        click.echo(highlight(text, RaspLexer(), formatter), nl=False, color=True)
    else:
        click.echo(text, nl=False)
