"""The compiler as the tools see it: compile with a ticking line while slow, and read
where a compiled program keeps each value, which heads it has, the selector each implements
and what it attends to, all from the typed manifest (`compiler.manifest`) and the runtime's
`Transformer.attention_weights`.

`rasp show`, `rasp draw`, `rasp attention` and the REPL's `:compile`/`:attn`/`draw` all come
here. The `compiler` package (and torch) is imported only when a compile is asked for; without
it `NoCompiler` says so in one line.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from rasp import ir
from rasp.env import Environment
from rasp.errors import RaspError

if TYPE_CHECKING:  # the app may name the compiler's types; it imports it only to compile
    from compiler import CompiledProgram
    from compiler.manifest import HeadValue, Value

SUBLAYER_NAMES = {"attention": "attention", "mlp": "MLP", "embedding": "embedding"}


class NoCompiler(Exception):
    """The compiler package is missing: a message for the user, not a failure of the program."""


def compile_expr(
    env: Environment, expr: str, vocab: list[Any], max_len: int, progress: Any = None
) -> CompiledProgram:
    """A CompiledProgram (raises NoCompiler, or a RaspError such as CompileError);
    `progress(stage, done, total, seconds)` is the compiler's progress callback."""
    try:
        import compiler  # and torch: only when a compile is asked for
    except ImportError:
        raise NoCompiler(
            "the compiler is not installed in this raspc (no `compiler` package)"
        ) from None
    try:
        return compiler.compile(env, expr, vocab=vocab, max_len=max_len, progress=progress)
    except OverflowError as exc:  # a huge integer in a select or a map
        raise RaspError(
            f"cannot compile {expr}: a value too large for the model's float arithmetic ({exc})"
        ) from None


def same_output(expected: Any, actual: Any) -> bool:
    """The compiler's one rule for "the model gave the interpreter's output"
    (`compiler.program.agrees`, which `rasp verify` uses), so `:compile` never disagrees with
    it; only asked after a compile, so the compiler is there."""
    from compiler.program import agrees

    return agrees(list(expected), list(actual))


def root(prog: CompiledProgram) -> ir.SOp:
    """The s-op a program was compiled from: every compile keeps it; a model file does not."""
    if prog.node is None:
        raise RaspError(
            "this model was loaded from a file: it does not say which program it was compiled from"
        )
    return prog.node


def placements(prog: CompiledProgram) -> dict[int, Value]:
    """IR node id (of the compiled expression's graph) → where the model keeps its value."""
    return prog.manifest.placed(root(prog))


def placement_text(entry: Value) -> str:
    """`layer 2 attention, categorical, 4 dims`: where a value lands and how wide it is."""
    where = SUBLAYER_NAMES.get(entry.sublayer, entry.sublayer)
    if entry.layer >= 0:
        where = f"layer {entry.layer} {where}"
    return f"{where}, {entry.encoding}, {counted(entry.width, 'dim')}"


def counted(n: int, noun: str) -> str:
    """`1 layer`, `3 heads`: a compiled program's sizes as the tools word them."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def heads(prog: CompiledProgram) -> list[tuple[int, int, HeadValue]]:
    """Every attention head as (layer, head index, the value it writes)."""
    return prog.manifest.heads()


def head_selector(prog: CompiledProgram, head: HeadValue) -> ir.Selector | None:
    """The selector a head implements, as a node of the compiled expression (or built from
    its nodes, such as a prefix count's `select(x, 1, ==) and upto`); None when unknown."""
    return prog.manifest.selector(head, root(prog))


def attention_weights(prog: CompiledProgram, tokens: list[Any]) -> list[Any]:
    """Per layer, the heads' softmax attention [head, query, key] on BOS + tokens (numpy;
    None for a layer without heads), as the runtime computes it."""
    import torch

    with torch.no_grad():
        found = prog.model.attention_weights(torch.tensor([prog.encode(tokens)]))
    return [None if w is None else w[0].double().numpy() for w in found]


class Ticker:
    """What `ticking` shows: the compiler's latest stage, given by its progress callback."""

    def __init__(self) -> None:
        self.detail = ""

    def update(self, stage: str, done: int, total: int, _seconds: float) -> None:
        self.detail = f"{stage} {done}/{total}"


# The tickers running, innermost last: only it writes (the REPL ticks a whole input, and a
# compile inside that input ticks its own stage on the same line). The lock keeps a check of
# who is innermost and that ticker's write together.
_running: list[Ticker] = []
_line = threading.Lock()


@contextmanager
def ticking(
    stream: TextIO | None, text: str, delay: float = 1.0, interval: float = 1.0
) -> Iterator[Ticker]:
    """While the block runs longer than `delay` seconds, keep `text`, the seconds so far and
    the ticker's stage on one terminal line of `stream` (erased at the end); nothing at all
    when `stream` is None. The block passes `ticker.update` to the compiler as `progress`.
    A ticking block inside another one takes the line over until it ends."""
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
            with _line:
                if _running[-1] is not ticker:
                    continue  # an inner block is ticking
                stream.write("\r" + line[:width] + "\x1b[K")
                stream.flush()
            shown.set()
            wait = interval

    thread = threading.Thread(target=tick, daemon=True)
    with _line:
        _running.append(ticker)
    thread.start()
    try:
        yield ticker
    finally:
        done.set()
        thread.join()
        with _line:
            _running.remove(ticker)
            if shown.is_set():
                stream.write("\r\x1b[K")
                stream.flush()


def compile_ticking(env: Environment, expr: str, vocab: list[Any], max_len: int) -> CompiledProgram:
    """`compile_expr` for the command-line tools (show, draw, attention): a compile over a
    second ticks on stderr when it is a terminal."""
    stream = sys.stderr if sys.stderr.isatty() else None
    with ticking(stream, f"compiling {' '.join(expr.split())[:40]}…") as ticker:
        return compile_expr(env, expr, vocab, max_len, ticker.update)
