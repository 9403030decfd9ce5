"""The compiler as the REPL, `rasp show` and `rasp draw` see it.

`:compile NAME` compiles an s-op for the running example (its distinct tokens are the
vocabulary, its length the maximum length, unless `--vocab` / `--max-len` say otherwise) and
checks the model against the interpreter; `:attn NAME` sets each attention head's pattern beside
the RASP selector it implements; the REPL's `draw(x);` compiles `x` the same way to colour
its graph by layer. Everything here needs the `compiler` package (and torch); without it the
commands say so (and `draw` colours by kind) and nothing else changes.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import shlex
import shutil
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from . import ir
from .env import Applied, Environment, Function, normalise_input
from .errors import RaspError
from .examples import parse_max_len, parse_vocab
from .format import format_applied, format_example_arg, format_matrix, format_sequence

if TYPE_CHECKING:
    from .repl import Output, ReplSession

ERROR = "class:error"
SUBLAYER_NAMES = {"attention": "attention", "mlp": "MLP", "embedding": "embedding"}


class NoCompiler(Exception):
    """The compiler package is missing: a message for the user, not a failure of the program."""


def compiler_module() -> Any:
    try:
        module = importlib.import_module("compiler")
    except ImportError:
        module = None
    if module is None or not hasattr(module, "compile"):
        raise NoCompiler("the compiler is not installed in this raspc (no `compiler` package)")
    return module


def compile_expr(env: Environment, expr: str, vocab: list[Any], max_len: int,
                 progress: Any = None) -> Any:
    """A CompiledProgram (raises NoCompiler, or a RaspError such as CompileError);
    `progress(stage, done, total, seconds)` is the compiler's progress callback."""
    module = compiler_module()
    try:
        return module.compile(env, expr, vocab=vocab, max_seq_len=max_len, progress=progress)
    except OverflowError as exc:  # a huge integer in a select or a map
        raise RaspError(f"cannot compile {expr}: a value too large for the model's float "
                        f"arithmetic ({exc})") from None


def compile_for_drawing(session: ReplSession, sop: ir.SOp, example: Any) -> Any:
    """`sop` compiled for the running example's tokens and length (by a top-level name bound
    to it, else its text), ticking while slow."""
    env = session.env
    name = next((n for n, v in env.top.vars.items() if v is sop), sop.label)
    tokens = normalise_input(example)
    with ticking(session.progress, f"compiling {name} to colour it by layer…") as ticker:
        prog = compile_expr(env, name, sorted(set(tokens), key=str), max(1, len(tokens)),
                            ticker.update)
    if not isinstance(prog.node, ir.SOp):
        raise RaspError(f"{name} did not compile to an s-op")
    return prog


def draw(session: ReplSession, sop: ir.SOp, example: Any) -> list[str]:
    """`draw(sop)`: the graph goes to comp_flows/NAME_INPUT.pdf (a name safe in any
    shell), the value is echoed. On a terminal the s-op is compiled for the running
    example and coloured by layer; otherwise (or when it does not compile) by kind."""
    from .draw import layer_placements, render
    from .graph import top_level

    example = session.settings.sop_example if example is None else example
    values = session.env.on_example(sop, example)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{sop.label} {format_example_arg(example)}")
    path = os.path.join("comp_flows", name.strip("_.")[:100] + ".pdf")
    note = ""
    node, placed, title = sop, None, None
    if session.interactive:
        try:
            prog = compile_for_drawing(session, sop, example)
            node, placed = prog.node, layer_placements(prog)
            title = f"{sop.label}: compiled for the running example"
        except (RaspError, NoCompiler) as err:
            note = f"; coloured by kind: {str(err).splitlines()[0]}"
    try:
        os.makedirs("comp_flows", exist_ok=True)
        render(node, path, example=example, placed=placed, title=title,
               names=top_level(session.env))
    except OSError as exc:
        raise RaspError(f"cannot write {path}: {exc.strerror or exc}") from None
    applied = Applied(sop, normalise_input(example), values)
    result = format_applied(applied, session.settings.full_display)
    lines = [result]
    if session.interactive:
        lines.append(f"\t(graph drawn to {path}{note})")
    return lines


def placements(prog: Any) -> dict[int, dict[str, Any]]:
    """IR node id → where the compiled model keeps that node's value (layout entry)."""
    return {e["ir"]: e for e in prog.manifest["layout"] if e.get("ir") is not None}


def placement_text(entry: dict[str, Any]) -> str:
    """`layer 2 attention, categorical, 4 dims`: where a value lands and how wide it is."""
    where = SUBLAYER_NAMES.get(entry["sublayer"], entry["sublayer"])
    if entry["layer"] >= 0:
        where = f"layer {entry['layer']} {where}"
    encoding = {"cat": "categorical", "num": "numerical"}.get(entry["encoding"],
                                                              entry["encoding"])
    width = entry["dims"][1] - entry["dims"][0]
    return f"{where}, {encoding}, {width} dim{'s' if width != 1 else ''}"


def heads(prog: Any) -> list[tuple[int, int, dict[str, Any]]]:
    """Every attention head as (layer, head index, its plan block)."""
    found = []
    for layer in prog.manifest["plan"]:
        attention = [b for b in layer["blocks"] if "selector" in b]
        found += [(layer["layer"], h, block) for h, block in enumerate(attention)]
    return found


def attention_weights(prog: Any, tokens: list[Any], layer: int, head: int) -> Any:
    """The head's softmax attention [query, key] on BOS + tokens (numpy)."""
    import torch

    attn = prog.model.blocks[layer].attn
    seen: dict[str, torch.Tensor] = {}
    hook = attn.register_forward_hook(lambda _m, args, _out: seen.setdefault("x", args[0]))
    try:
        with torch.no_grad():
            prog.model(torch.tensor([prog.encode(tokens)]))
            x = seen["x"]
            b, t, _ = x.shape
            q, k, _v = attn.qkv(x).view(b, t, 3, attn.n_heads, attn.d_head).permute(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(-2, -1)) * attn.scale
            if prog.manifest.get("causal"):
                scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(),
                                            float("-inf"))
            return scores.softmax(dim=-1)[0, head].double().numpy()
    finally:
        hook.remove()


INDENT = "     "  # the original's echo indent, which :compile and :attn share


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


def side_by_side(left: str, right: str, gap: int = 6) -> str:
    left_lines, right_lines = left.split("\n"), right.split("\n")
    width = max(len(line.expandtabs()) for line in left_lines) + gap
    n = max(len(left_lines), len(right_lines))
    left_lines += [""] * (n - len(left_lines))
    right_lines += [""] * (n - len(right_lines))
    return "\n".join((a.expandtabs().ljust(width) + b).rstrip()
                     for a, b in zip(left_lines, right_lines, strict=True))


def _parse(arg: str, example: Any, command: str = "compile") -> tuple[str, list[Any], int, bool]:
    words = shlex.split(arg)
    tokens = normalise_input(example)
    vocab: list[Any] = sorted(set(tokens), key=str)
    max_len, plan = len(tokens), False
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
    return " ".join(expr), vocab, max_len, plan


def check_compilable(env: Environment, expr: str, command: str) -> Any:
    """`expr`'s value when it is an s-op or a selector; otherwise a one-line ValueError that
    says how to call it (a function) or what it is (a plain value)."""
    value = env.expression(expr)
    if isinstance(value, Function):
        call = f"{value.name}({', '.join('tokens' for _ in value.params)})"
        raise ValueError(f"{value.signature()} is a function: try :{command} {call}")
    if not isinstance(value, ir.IRNode):
        raise ValueError(f"{expr} is a {type(value).__name__}, not an s-op: only s-ops (and, "
                         "for :attn, selectors) compile")
    return value


class Ticker:
    """What `ticking` shows: the compiler's latest stage, given by its progress callback."""

    def __init__(self) -> None:
        self.detail = ""

    def update(self, stage: str, done: int, total: int, _seconds: float) -> None:
        self.detail = f"{stage} {done}/{total}"


@contextmanager
def ticking(stream: TextIO | None, text: str, delay: float = 1.0,
            interval: float = 1.0) -> Iterator[Ticker]:
    """While the block runs longer than `delay` seconds, keep `text`, the seconds so far and
    the ticker's stage on one terminal line of `stream` (erased at the end); nothing at all
    when `stream` is None. The block passes `ticker.update` to the compiler as `progress`."""
    ticker = Ticker()
    if stream is None:
        yield ticker
        return
    done = threading.Event()
    start = time.monotonic()
    shown = threading.Event()
    width = shutil.get_terminal_size((80, 24)).columns - 1

    def tick() -> None:
        wait = delay
        while not done.wait(wait):
            line = f"{text} {time.monotonic() - start:.0f} s"
            if ticker.detail:
                line += f" ({ticker.detail})"
            stream.write("\r" + line[:width] + "\x1b[K")
            stream.flush()
            shown.set()
            wait = interval

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield ticker
    finally:
        done.set()
        thread.join()
        if shown.is_set():
            stream.write("\r\x1b[K")
            stream.flush()


def compile_ticking(env: Environment, expr: str, vocab: list[Any], max_len: int) -> Any:
    """`compile_expr` for the command-line tools (show, draw, attention): a compile over a
    second ticks on stderr when it is a terminal."""
    stream = sys.stderr if sys.stderr.isatty() else None
    with ticking(stream, f"compiling {' '.join(expr.split())[:40]}…") as ticker:
        return compile_expr(env, expr, vocab, max_len, ticker.update)


def _same(a: list[Any], b: list[Any]) -> bool:
    def eq(x: Any, y: Any) -> bool:
        if isinstance(x, int | float) and isinstance(y, int | float):
            return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
        return x == y

    return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b, strict=True))


def register(session: ReplSession) -> None:
    """Add `:compile` and `:attn` to the session's meta commands."""

    def guarded(fn):
        def run(arg: str) -> Output:
            try:
                return [("", "\n".join(fn(arg)) + "\n")]
            except (RaspError, ValueError, NoCompiler) as err:
                message = err.message if isinstance(err, RaspError) else str(err)
                return [(ERROR, f"!! {message}\n")]
        return run

    def compiled(arg: str, example: Any, command: str) -> tuple[str, Any, bool, bool]:
        """(expr, program, --plan given, vocab and length both from the running example)."""
        expr, vocab, max_len, plan = _parse(arg, example, command)
        value = check_compilable(session.env, expr, command)
        if command == "attn" and isinstance(value, ir.Selector):
            expr = f"aggregate({expr}, indices)"  # a selector compiles inside an aggregate
        elif not isinstance(value, ir.SOp):
            raise ValueError(f"{expr} is a selector: compile an s-op that uses it, e.g. "
                             f":compile aggregate({expr}, tokens), or see it with :attn {expr}")
        words = shlex.split(arg)
        defaults = "--vocab" not in words and "--max-len" not in words
        width = shutil.get_terminal_size((80, 24)).columns
        with ticking(session.progress, f"compiling {expr}"[:width // 2] + "…") as ticker:
            prog = compile_expr(session.env, expr, vocab, max_len, ticker.update)
        return expr, prog, plan, defaults

    def vocab_lines(prog: Any, defaults: bool) -> list[str]:
        vocab = ",".join(map(str, prog.vocab))
        lines = [f"\tvocab {vocab}, max length {prog.max_seq_len}"]
        if defaults:
            lines.append("\t(the running example's; --vocab a,b --max-len N to change)")
        return lines

    def compile_command(arg: str) -> list[str]:
        example = session.settings.sop_example
        expr, prog, plan, defaults = compiled(arg, example, "compile")
        stats = prog.stats
        lines = [f"     compiled: {expr}", *vocab_lines(prog, defaults)]
        lines.append("\t" + ", ".join(f"{key} {stats[key]:,}" for key in
                                      ("layers", "heads", "d_model", "mlp_hidden", "params")))
        if plan:
            columns = shutil.get_terminal_size((80, 24)).columns - 8  # after the tab
            lines += ["\t" + line for line in prog.plan_text(columns).split("\n")]
        want = session.env.evaluate(expr, example)
        got = prog.run(example)
        arg_text = format_example_arg(example)
        lines.append(f"\tmodel({arg_text}) = {format_sequence(list(got))}")
        if _same(list(got), list(want)):
            lines.append("\tmatches the interpreter on the running example")
        else:
            lines.append(f"\tDIFFERS from the interpreter: {format_sequence(list(want))}")
        return lines

    def attn_command(arg: str) -> list[str]:
        example = session.settings.selector_example
        expr, prog, _plan, _defaults = compiled(arg, example, "attn")
        tokens = normalise_input(example)
        nodes = {n.id: n for n in ir.walk(prog.node)}
        where = placements(prog)
        mine = [h for h in heads(prog) if where.get(prog.node.id, {}).get("dims") == h[2]["dims"]]
        from .attention_plot import head_selector, selectors_by_label

        by_label = selectors_by_label(prog.node)
        size = shutil.get_terminal_size((80, 24))
        columns = size.columns - len(INDENT)
        n = attn_tokens(tokens, columns, size.lines) if session.cut else len(tokens)
        shown = tokens[:n]
        lines = []
        for layer, head, block in mine or heads(prog):
            entry = next((e for e in where.values() if e["dims"] == block["dims"]), None)
            agg = nodes.get(entry["ir"]) if entry is not None else None
            title = (f"head {head} of layer {layer}: {block['node']} <- "
                     f"{block['selector'] or '?'} ({block['role']}) on "
                     f"{format_example_arg(example)}")
            lines += textwrap.wrap(title, columns, subsequent_indent="    ",
                                   break_on_hyphens=False) if session.cut else [title]
            weights = attention_weights(prog, tokens, layer, head)[:n + 1, :n + 1]
            text = "compiled attention (§ = BOS)\n" + format_weights(shown, weights)
            sel = (agg.selector if isinstance(agg, ir.Aggregate)
                   else head_selector(block, prog.node, by_label))  # e.g. a prefix count's
            if sel is not None:
                from .interpreter import evaluate_batch

                rows = [row[:n] for row in evaluate_batch(sel, [tokens])[0][:n]]
                rasp_text = f"RASP selector {sel.label}\n" + format_matrix(
                    shown, rows, indent="")
                text = side_by_side(rasp_text, text)
                if session.cut and max(len(x) for x in text.split("\n")) > columns:
                    text = rasp_text + "\n" + "compiled attention (§ = BOS)\n" + \
                        format_weights(shown, weights)  # one above the other
            lines += text.split("\n")
        if n < len(tokens):
            lines.append(f"(the first {n} of {len(tokens)} tokens: :cut off shows all)")
        return [INDENT + line for line in lines]

    session.meta["compile"] = guarded(compile_command)
    session.meta["attn"] = guarded(attn_command)
