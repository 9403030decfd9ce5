"""The compiler as the REPL, `rasp show` and `rasp draw` see it.

`:compile NAME` compiles an s-op for the running example (its distinct tokens are the
vocabulary, its length the maximum length, unless `--vocab` / `--max-len` say otherwise) and
checks the model against the interpreter; `:attn NAME` sets each attention head's pattern beside
the RASP selector it implements; the REPL's `draw(x);` compiles `x` the same way to colour
its graph by layer. Everything here needs the `compiler` package (and torch); without it the
commands say so (and `draw` colours by kind) and nothing else changes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from rasp import ir
from rasp.build import Applied, Function
from rasp.compiled import (
    NoCompiler,
    attention_weights,
    compile_expr,
    head_selector,
    heads,
    placements,
    root,
    same_output,
    ticking,
)
from rasp.env import Environment
from rasp.errors import RaspError
from rasp.examples import compile_spec, parse_max_len, parse_vocab
from rasp.format import format_applied, format_example_arg, format_matrix, format_sequence
from rasp.interpreter import evaluate_batch
from rasp.repl_echo import Settings
from rasp.repl_fit import Output
from rasp.source import normalise_input

if TYPE_CHECKING:  # the app names the compiler's types; it imports it only to compile
    from compiler import CompiledProgram

ERROR = "class:error"


class ReplSession(Protocol):
    """What these commands use of the REPL's session (rasp.repl builds one and registers
    them), named here so that the REPL and its commands do not import each other."""

    env: Environment
    settings: Settings
    progress: TextIO | None
    interactive: bool
    cut: bool
    meta: dict[str, Callable[[str], Output]]


def compile_for_drawing(session: ReplSession, sop: ir.SOp, example: Any) -> CompiledProgram:
    """`sop` compiled for the running example's tokens and length (by a top-level name bound
    to it, else its text), ticking while slow."""
    env = session.env
    name = next((n for n, v in env.top.vars.items() if v is sop), sop.label)
    spec = compile_spec(None, name, example=example)
    with ticking(session.progress, f"compiling {name} to colour it by layer…") as ticker:
        prog = compile_expr(env, name, spec.vocab, spec.max_len, ticker.update)
    return prog


def draw(session: ReplSession, sop: ir.SOp, example: Any) -> list[str]:
    """`draw(sop)`: the graph goes to comp_flows/NAME_INPUT.pdf (a name safe in any
    shell), the value is echoed. On a terminal the s-op is compiled for the running
    example and coloured by layer; otherwise (or when it does not compile) by kind."""
    from rasp.draw import layer_placements, render  # networkx: 0.3 s that few sessions need
    from rasp.graph import top_level

    example = session.settings.sop_example if example is None else example
    values = session.env.on_example(sop, example)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{sop.label} {format_example_arg(example)}")
    path = os.path.join("comp_flows", name.strip("_.")[:100] + ".pdf")
    note = ""
    node, placed, title = sop, None, None
    if session.interactive:
        try:
            prog = compile_for_drawing(session, sop, example)
            node, placed = root(prog), layer_placements(prog)
            title = f"{sop.label}: compiled for the running example"
        except (RaspError, NoCompiler, ValueError) as err:  # ValueError: an empty example
            note = f"; coloured by kind: {str(err).splitlines()[0]}"
    try:
        os.makedirs("comp_flows", exist_ok=True)
        render(
            node, path, example=example, placed=placed, title=title, names=top_level(session.env)
        )
    except OSError as exc:
        raise RaspError(f"cannot write {path}: {exc.strerror or exc}") from None
    applied = Applied(sop, normalise_input(example), values)
    result = format_applied(applied, session.settings.full_display)
    lines = [result]
    if session.interactive:
        lines.append(f"\t(graph drawn to {path}{note})")
    return lines


INDENT = "     "  # the original's echo indent, which :compile and :attn share


def error_text(err: Exception, columns: int) -> str:
    """`!! ` and why a command failed, wrapped to `columns`, then the error's notes: a
    refusal's hint (the rewrite that would compile) and where a call came from. The bare
    message alone lost the hint and ran past the terminal's edge."""
    message = err.message if isinstance(err, RaspError) else str(err)
    notes = err.notes if isinstance(err, RaspError) else []
    lines = [
        wrapped
        for i, line in enumerate(message.split("\n"))
        for wrapped in textwrap.wrap(
            ("!! " if i == 0 else "   ") + line,
            columns,
            subsequent_indent="   ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    ]
    return "\n".join([*lines, *(f"   {note}" for note in notes)]) + "\n"


def attn_tokens(tokens: list[Any], columns: int, lines: int) -> int:
    """How many tokens of the example :attn can show: the compiled matrix (BOS column, one
    column per token) within `columns`, and its rows within a screen of `lines`."""
    width = max(3, *(len(str(t)) for t in tokens)) if tokens else 3
    by_width = (columns - 4) // (width + 1) - 1
    return max(1, min(len(tokens), by_width, lines - 6))


def _weight(w: float) -> str:
    if w >= 0.995:
        return "  1"
    if w < 0.005:
        return "  ."
    return f"{w:.2f}"[1:]


def format_weights(tokens: list[Any], weights: Any) -> str:
    """Compiled attention, rows = queries (BOS row dropped), columns = BOS then the keys."""
    cols = ["§", *tokens]
    width = max(3, *(len(str(c)) for c in cols))
    lines = [" " * 4 + " ".join(str(c).rjust(width) for c in cols)]
    for tok, row in zip(tokens, weights[1:], strict=True):
        lines.append(f" {str(tok):>2} " + " ".join(_weight(w).rjust(width) for w in row))
    return "\n".join(lines)


def _first(example: Any, n: int) -> str:
    """The example's first `n` tokens as the REPL writes the example, then `…`: the
    heading of a cut :attn (the whole of a 200-token example took four lines)."""
    if isinstance(example, str):
        return format_example_arg(example[:n]) + "…"
    return format_example_arg(list(example)[:n])[:-1] + ", …]"


def side_by_side(left: str, right: str, gap: int = 6) -> str:
    left_lines, right_lines = left.split("\n"), right.split("\n")
    width = max(len(line.expandtabs()) for line in left_lines) + gap
    n = max(len(left_lines), len(right_lines))
    left_lines += [""] * (n - len(left_lines))
    right_lines += [""] * (n - len(right_lines))
    return "\n".join(
        (a.expandtabs().ljust(width) + b).rstrip()
        for a, b in zip(left_lines, right_lines, strict=True)
    )


def _parse(arg: str, example: Any, command: str = "compile") -> tuple[str, list[Any], int, bool]:
    words = shlex.split(arg)
    vocab: list[Any] | None = None
    max_len: int | None = None
    plan = False
    expr: list[str] = []
    it = iter(words)
    for w in it:
        if w == "--vocab":
            vocab = parse_vocab(next(it, ""))
            if not vocab:
                raise ValueError("--vocab needs at least one token, e.g. --vocab a,b,c")
        elif w == "--max-len":
            max_len = parse_max_len(next(it, ""))
        elif w == "--plan":
            plan = True
        else:
            expr.append(w)
    if not expr:
        raise ValueError(f"give an s-op: a name or an expression, e.g. :{command} reverse")
    spec = compile_spec(None, " ".join(expr), vocab, max_len, example)
    return spec.expr, spec.vocab, spec.max_len, plan


def check_compilable(env: Environment, expr: str, command: str) -> Any:
    """`expr`'s value when it is an s-op or a selector; otherwise a one-line ValueError that
    says how to call it (a function) or what it is (a plain value)."""
    value = env.expression(expr)
    if isinstance(value, Function):
        call = f"{value.name}({', '.join('tokens' for _ in value.params)})"
        raise ValueError(f"{value.signature()} is a function: try :{command} {call}")
    if not isinstance(value, ir.IRNode):
        raise ValueError(
            f"{expr} is a {type(value).__name__}, not an s-op: only s-ops (and, "
            "for :attn, selectors) compile"
        )
    return value


def register(session: ReplSession) -> None:
    """Add `:compile` and `:attn` to the session's meta commands."""

    def guarded(fn):
        def run(arg: str) -> Output:
            try:
                return [("", "\n".join(fn(arg)) + "\n")]
            except (RaspError, ValueError, NoCompiler) as err:
                columns = shutil.get_terminal_size((80, 24)).columns
                return [(ERROR, error_text(err, columns))]

        return run

    def compiled(arg: str, example: Any, command: str) -> tuple[str, CompiledProgram, bool, bool]:
        """(expr, program, --plan given, vocab and length both from the running example)."""
        expr, vocab, max_len, plan = _parse(arg, example, command)
        value = check_compilable(session.env, expr, command)
        if command == "attn" and isinstance(value, ir.Selector):
            expr = f"aggregate({expr}, indices)"  # a selector compiles inside an aggregate
        elif not isinstance(value, ir.SOp):
            raise ValueError(
                f"{expr} is a selector: compile an s-op that uses it, e.g. "
                f":compile aggregate({expr}, tokens), or see it with :attn {expr}"
            )
        words = shlex.split(arg)
        defaults = "--vocab" not in words and "--max-len" not in words
        width = shutil.get_terminal_size((80, 24)).columns
        with ticking(session.progress, f"compiling {expr}"[: width // 2] + "…") as ticker:
            prog = compile_expr(session.env, expr, vocab, max_len, ticker.update)
        return expr, prog, plan, defaults

    def vocab_lines(prog: CompiledProgram, defaults: bool) -> list[str]:
        vocab = ",".join(map(str, prog.vocab))
        lines = [f"\tvocab {vocab}, max length {prog.max_len}"]
        if defaults:
            lines.append("\t(the running example's; --vocab a,b --max-len N to change)")
        return lines

    def compile_command(arg: str) -> list[str]:
        example = session.settings.sop_example
        expr, prog, plan, defaults = compiled(arg, example, "compile")
        stats = prog.stats
        lines = [f"     compiled: {expr}", *vocab_lines(prog, defaults)]
        lines.append(
            "\t"
            + ", ".join(
                f"{key} {stats[key]:,}"
                for key in ("layers", "heads", "d_model", "mlp_hidden", "params")
            )
        )
        if plan:
            columns = shutil.get_terminal_size((80, 24)).columns - 8  # after the tab
            lines += ["\t" + line for line in prog.plan_text(columns).split("\n")]
        want = session.env.evaluate(expr, example)
        got = prog.run(example)
        arg_text = format_example_arg(example)
        lines.append(f"\tmodel({arg_text}) = {format_sequence(list(got))}")
        if same_output(want, got):
            lines.append("\tmatches the interpreter on the running example")
        else:
            lines.append(f"\tDIFFERS from the interpreter: {format_sequence(list(want))}")
        return lines

    def attn_command(arg: str) -> list[str]:
        example = session.settings.selector_example
        expr, prog, _plan, _defaults = compiled(arg, example, "attn")
        tokens = list(normalise_input(example))
        own = placements(prog).get(root(prog).id)  # the head computing the s-op itself
        mine = [h for h in heads(prog) if own is not None and own.dims == h[2].dims]
        weights_of = attention_weights(prog, tokens)
        size = shutil.get_terminal_size((80, 24))
        columns = size.columns - len(INDENT)
        n = attn_tokens(tokens, columns, size.lines) if session.cut else len(tokens)
        shown = tokens[:n]
        on = format_example_arg(example) if n == len(tokens) else _first(example, n)
        lines = []
        for layer, head, value in mine or heads(prog):
            title = (
                f"head {head} of layer {layer}: {value.label} <- "
                f"{value.selector or '?'} ({value.role}) on {on}"
            )
            lines += (
                textwrap.wrap(title, columns, subsequent_indent="    ", break_on_hyphens=False)
                if session.cut
                else [title]
            )
            weights = weights_of[layer][head][: n + 1, : n + 1]
            text = "compiled attention (§ = BOS)\n" + format_weights(shown, weights)
            sel = head_selector(prog, value)
            if sel is not None:
                rows = [row[:n] for row in evaluate_batch(sel, [tokens])[0][:n]]
                rasp_text = f"RASP selector {value.selector or sel.label}\n" + format_matrix(
                    shown, rows, indent=""
                )
                text = side_by_side(rasp_text, text)
                if session.cut and max(len(x) for x in text.split("\n")) > columns:
                    text = (
                        rasp_text
                        + "\n"
                        + "compiled attention (§ = BOS)\n"
                        + format_weights(shown, weights)
                    )  # one above the other
            lines += text.split("\n")
        if n < len(tokens):
            lines.append(f"(the first {n} of {len(tokens)} tokens: :cut off shows all)")
        return [INDENT + line for line in lines]

    session.meta["compile"] = guarded(compile_command)
    session.meta["attn"] = guarded(attn_command)
