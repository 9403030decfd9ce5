"""Refusals: each names the expression, its file:line:col, why, and a rewrite that compiles."""

import ast
import pathlib

import pytest

import compiler
from compiler.errors import CompileError
from compiler.testing import env_with

HERE = pathlib.Path(compiler.__file__).parent  # the compiler's modules


def test_every_refusal_in_the_compiler_carries_a_hint():
    """A static check: every `CompileError(...)` the compiler raises passes `hint=`."""
    missing = []
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "CompileError"
                and not any(k.arg == "hint" for k in node.keywords)
            ):
                missing.append(f"{path.name}:{node.lineno}")
    assert not missing, f"refusals without a hint: {missing}"


def test_a_hint_is_wrapped_under_the_quoted_line():
    err = CompileError("why", hint="word " * 40)
    lines = str(err).splitlines()
    assert lines[0] == "cannot compile why" and lines[1].startswith("  hint: word")
    assert len(lines) > 2 and all(len(line) <= 80 for line in lines)


CASES = [
    # (source, expression, vocab, max_len, reason, a word of its hint)
    (
        'x = 1 if tokens == "a" else 1.0; m = aggregate(select(tokens, tokens, ==), x, 0);',
        "m",
        ["a", "b"],
        4,
        "its value is an int on some inputs",
        "round(x)",
    ),
    (
        "a = selector_width(select(tokens_int, tokens_int, <));"
        "b = selector_width(select(tokens_int, tokens_int, >));"
        "c = selector_width(select(tokens_int, tokens_int, ==));"
        "x = (a * b) % (c + indices + 1);",
        "x",
        list(range(40)),
        40,
        "its inputs take",
        "split it into steps",
    ),
    (
        'm = aggregate(select(tokens, tokens, ==), indicator(tokens == "a"), "z");',
        "m",
        ["a", "b"],
        4,
        "a mean of numbers with the default",
        "default",
    ),
]


@pytest.mark.parametrize(
    ("src", "expr", "vocab", "n", "reason", "hint"), CASES, ids=["type", "split", "default"]
)
def test_refusals_say_where_why_and_what_would_compile(src, expr, vocab, n, reason, hint):
    with pytest.raises(CompileError) as info:
        compiler.compile(env_with(src), expr, vocab, n)
    err = info.value
    text = str(err)
    assert err.line == 1 and err.column is not None, text  # <input>:1:col
    assert reason in err.message, text
    assert err.hint is not None and hint in err.hint, text
    assert "hint: " in text and all(len(line) <= 80 for line in text.splitlines()[3:]), text


def test_causal_and_selector_refusals_suggest_the_fix():
    with pytest.raises(CompileError, match="only s-ops") as info:
        compiler.compile(env_with(), "select(indices, indices, ==)", ["a"], 4)
    assert "selector_width" in (info.value.hint or "")
    src = 'm = aggregate(select(indices, indices, >), indicator(tokens == "a"), 0);'
    with pytest.raises(CompileError, match="causal") as info:
        compiler.compile(env_with(src), "m", ["a", "b"], 4, causal=True)
    assert "without --causal" in (info.value.hint or "")
