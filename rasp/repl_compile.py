"""The REPL's compiler command, `:compile NAME`.

It needs the `compiler` package; without it (or before it exists) it says so and the REPL
works as before. It compiles for the running example: its distinct tokens are the vocabulary
and its length the maximum length, unless `--vocab` / `--max-len` say otherwise.
"""

from __future__ import annotations

import importlib
import shlex
from typing import TYPE_CHECKING, Any

from .env import normalise_input
from .errors import RaspError
from .examples import parse_vocab
from .format import format_example_arg, format_sequence

if TYPE_CHECKING:
    from .repl import Output, ReplSession

ERROR = "class:error"


def _compiler() -> Any | None:
    try:
        module = importlib.import_module("compiler")
    except ImportError:
        return None
    return module if hasattr(module, "compile") else None


def _parse(arg: str, example: Any) -> tuple[str, list[Any], int]:
    words = shlex.split(arg)
    if not words:
        raise ValueError("give a name or an expression, e.g. :compile reverse")
    tokens = normalise_input(example)
    vocab: list[Any] = sorted(set(tokens), key=str)
    max_len = len(tokens)
    expr: list[str] = []
    it = iter(words)
    for w in it:
        if w == "--vocab":
            vocab = parse_vocab(next(it, ""))
        elif w == "--max-len":
            max_len = int(next(it, "0"))
        else:
            expr.append(w)
    return " ".join(expr), vocab, max_len


def register(session: ReplSession) -> None:
    """Add `:compile` to the session's meta commands."""

    def compiled(arg: str):
        compiler = _compiler()
        if compiler is None:
            raise ValueError("the compiler is not installed in this raspc (no `compiler` package)")
        name, vocab, max_len = _parse(arg, session.settings.sop_example)
        return name, compiler.compile(session.env, name, vocab=set(vocab), max_seq_len=max_len)

    def guard(fn):
        def run(arg: str) -> Output:
            try:
                return [("", "\n".join(fn(arg)) + "\n")]
            except (RaspError, ValueError) as err:
                message = err.message if isinstance(err, RaspError) else str(err)
                return [(ERROR, f"!! {message}\n")]
        return run

    def compile_command(arg: str) -> list[str]:
        name, prog = compiled(arg)
        example = session.settings.sop_example
        tokens = normalise_input(example)
        want = session.env.evaluate(name, example)
        got = prog.run(tokens)
        stats = prog.stats
        lines = [f"     compiled: {name}"]
        lines += [f"\t{key:<11}{stats[key]:,}" for key in
                  ("layers", "heads", "d_model", "mlp_hidden", "params") if key in stats]
        verdict = "matches" if list(got) == list(want) else "DIFFERS FROM"
        lines.append(f"\tmodel({format_example_arg(example)}) = {format_sequence(list(got))}")
        lines.append(f"\t{verdict} the interpreter on the running example")
        return lines

    session.meta["compile"] = guard(compile_command)

