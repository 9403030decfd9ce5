"""`rasp attention`: a program's RASP selectors beside the compiled heads' attention patterns.

    rasp attention FILE -e NAME -i INPUT -o OUT.png

Compiles the s-op (with the file's `# compile:` vocabulary and length, else the input's own
tokens and length), runs the model on the input and draws one row per attention head: on the
left the selector the head implements, evaluated by the interpreter; on the right the head's
softmax weights, BOS column included. The compiled heads, their selectors and weights
come from `rasp.compiled` (the REPL's `:attn` prints the same pairs as text).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from rasp import ir
from rasp.command import fail, load_or_exit, output_name
from rasp.compiled import (
    NoCompiler,
    attention_weights,
    compile_ticking,
    counted,
    head_selector,
    heads,
)
from rasp.env import Environment
from rasp.errors import RaspError
from rasp.examples import MAX_LEN, compile_spec, parse_input_literal, parse_vocab
from rasp.format import format_example_arg
from rasp.interpreter import evaluate_batch
from rasp.source import normalise_input

if TYPE_CHECKING:  # the app names the compiler's types; it imports it only to compile
    from compiler import CompiledProgram

SHARE = 0.01  # attention weight above which a key counts as attended


@dataclass
class HeadView:
    """One compiled head on one input: what it computes, its selector and both matrices."""

    layer: int
    head: int
    node: str  # the value the head writes (plan label)
    role: str
    selector_label: str
    selector: Any  # [query][key] booleans from the interpreter, or None when unknown
    weights: np.ndarray  # [1 + n, 1 + n] softmax weights, BOS first (row 0 is BOS's query)

    def matches(self) -> bool | None:
        """Whether every query attends (weight > SHARE) to exactly its selected keys, or only
        to BOS when it selects none. None without a selector to compare with."""
        if self.selector is None:
            return None
        chosen = np.asarray(self.selector, dtype=bool)
        attended = self.weights[1:, 1:] > SHARE
        empty = ~chosen.any(axis=1)
        return bool((attended == chosen).all() and (self.weights[1:, 0][empty] > 0.5).all())


def head_views(prog: CompiledProgram, tokens: list[Any]) -> list[HeadView]:
    """Every attention head of a compiled program on `tokens`, paired with its selector."""
    weights = attention_weights(prog, tokens)
    views = []
    for layer, h, head in heads(prog):
        sel = head_selector(prog, head)
        matrix = evaluate_batch(sel, [tokens])[0] if sel is not None else None
        views.append(
            HeadView(layer, h, head.label, head.role, head.selector, matrix, weights[layer][h])
        )
    return views


def compile_for(env: Environment, expr: str, vocab: list[Any], max_len: int) -> CompiledProgram:
    """Compile `expr`; a selector compiles inside `aggregate(selector, indices)`."""
    if isinstance(env.expression(expr), ir.Selector):
        expr = f"aggregate({expr}, indices)"
    return compile_ticking(env, expr, vocab, max_len)


def _matrix(
    ax: Any,
    values: np.ndarray,
    rows: list[str],
    cols: list[str],
    title: str,
    annotate: bool,
    scale: bool,
) -> Any:
    """One panel; `scale`: colours span 0 to the panel's largest weight (a head that spreads
    over 30 keys is not near-white), else 0..1 (a selector's booleans). Returns the image."""
    top = float(values.max()) if scale and values.size and values.max() > 0 else 1.0
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=top)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.tick_params(length=0, labelsize=8)
    ax.set_ylabel("query", fontsize=7)
    ax.set_xlabel("key", fontsize=7)
    ax.set_title(title, fontsize=8, pad=6)
    for edge in ("top", "right", "bottom", "left"):
        ax.spines[edge].set_visible(False)
    if not annotate:
        return image
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if v >= 0.005:
                text = "1" if v >= 0.995 else f"{v:.2f}".lstrip("0")
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.6 * top else "black",
                )
    return image


def figure(views: list[HeadView], tokens: list[Any], title: str) -> Any:
    """One row per head: the RASP selector (left) and the compiled weights (right, with a
    colour bar of its own scale). A matplotlib Figure, without pyplot's global state."""
    from matplotlib.figure import Figure

    names = [str(t) for t in tokens]
    n = len(names)
    cell = 0.34
    side = max(2.6, cell * (n + 1) + 0.8)
    height = max(2.4, cell * n + 1.8)
    title = "\n".join(textwrap.fill(line, int(2.2 * side * 12)) for line in title.split("\n"))
    fig = Figure(figsize=(2.2 * side, height * len(views) + 0.5 + 0.2 * title.count("\n")))
    axes = fig.subplots(len(views), 2, squeeze=False)
    annotate = n <= 12
    chars = max(24, int(side * 13))  # characters of 8 pt text across one panel
    for (left, right), v in zip(axes, views, strict=True):
        where = f"layer {v.layer}, head {v.head}"
        if v.selector is not None:
            _matrix(
                left,
                np.asarray(v.selector, dtype=float),
                names,
                names,
                "RASP selector\n" + _wrap(v.selector_label, chars),
                annotate=False,
                scale=False,
            )
        else:
            left.axis("off")
            left.text(
                0.5,
                0.5,
                "selector\n" + _wrap(v.selector_label, chars) + "\nnot in the program",
                ha="center",
                va="center",
                fontsize=8,
            )
        image = _matrix(
            right,
            v.weights[1:],
            names,
            ["§", *names],
            f"compiled {where}\n" + _wrap(v.node, chars),
            annotate,
            scale=True,
        )
        bar = fig.colorbar(image, ax=right, fraction=0.046, pad=0.04)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("attention weight", fontsize=7)
    heading = fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _clear_of(heading, fig)
    return fig


def _clear_of(heading: Any, fig: Any, gap: float = 6.0) -> None:
    """Lower the panels' top until every panel (its title and key labels included) lies `gap`
    pixels below the figure's `heading`. tight_layout sizes rows as if each fixed-aspect panel
    filled its cell, so in a tall figure the first row ran into the heading; a panel moves by
    only part of the change, hence the few rounds."""
    for _ in range(10):
        fig.draw_without_rendering()
        top = max(ax.get_tightbbox().y1 for ax in fig.axes)
        overlap = top + gap - heading.get_window_extent().y0
        if overlap <= 0:
            return
        fig.subplots_adjust(top=fig.subplotpars.top - overlap / fig.bbox.height)


def plot(views: list[HeadView], tokens: list[Any], path: str, title: str, dpi: int = 90) -> None:
    """`figure`, saved to `path` (PNG, SVG or PDF by its extension)."""
    figure(views, tokens, title).savefig(path, dpi=dpi)


def _short(text: str, width: int = 34) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str, width: int, lines: int = 3) -> str:
    """A title over a panel: whole words on at most `lines` lines of `width` characters."""
    return "\n".join(
        textwrap.wrap(
            " ".join(text.split()), width, max_lines=lines, placeholder=" …", break_on_hyphens=False
        )
    )


@click.command("attention")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-e", "--expr", help="The s-op (or selector) to compile. Default: the header's.")
@click.option(
    "-i",
    "--input",
    "given",
    help="The input: plain text (one token per character) "
    "or a literal like '[3, 1, 2]'. Default: the "
    "header's first example.",
)
@click.option("--vocab", help="Comma-separated tokens (default: the header's, else the input's).")
@click.option(
    "--max-len",
    type=click.IntRange(1, MAX_LEN),
    help="Longest input (default: the header's, else the input's length).",
)
@click.option("-o", "--output", help="OUT.png (or .svg, .pdf). Default: NAME-attention.png.")
@click.option("--dpi", type=click.IntRange(30, 600), default=90, show_default=True)
def attention(
    file: str,
    expr: str | None,
    given: str | None,
    vocab: str | None,
    max_len: int | None,
    output: str | None,
    dpi: int,
) -> None:
    """Draw each compiled attention head's pattern beside the RASP selector it implements."""
    program = load_or_exit(file)
    env, header = program.env, program.header
    try:
        if not (expr or header.compile):
            fail(f"{file} has no `# compile:` header: give the s-op with -e")
        if given is not None:
            example = parse_input_literal(given)
        elif header.examples:
            example = header.examples[0].input
        else:
            fail(f"{file} has no example in its header: give an input with -i")
        tokens = list(normalise_input(example))
        if not tokens:
            fail("the input is empty")
        spec = compile_spec(header, expr, parse_vocab(vocab) if vocab else None, max_len, example)
        expr, vocab_list, length = spec.expr, spec.vocab, spec.max_len
        prog = compile_for(env, expr, vocab_list, length)
        views = head_views(prog, tokens)
        if not views:
            fail(f"`{expr}` compiles to a model without attention heads")
        output = output or output_name(expr, "-attention.png")
        st = prog.stats
        title = (
            f"{_short(expr, 60)} on {format_example_arg(example)}\ncompiled for vocab "
            f"{','.join(map(str, vocab_list))}, max length {length}: "
            f"{counted(st['layers'], 'layer')}, {counted(st['heads'], 'head')} (§ = BOS)"
        )
        plot(views, tokens, output, title, dpi)
    except RaspError as err:
        fail(err)
    except NoCompiler as err:
        fail(str(err))
    except (ValueError, OSError) as err:  # SpecMissing among them
        fail(str(err))
    click.echo(f"{output}: {counted(len(views), 'head')} on {format_example_arg(example)}")
    for v in views:
        verdict = {
            True: "matches the selector",
            False: "DIFFERS from the selector",
            None: "no selector to compare",
        }[v.matches()]
        click.echo(
            f"  layer {v.layer} head {v.head}: {v.node} <- {v.selector_label} ({v.role}); {verdict}"
        )
