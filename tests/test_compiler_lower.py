"""Stages 2-3, lowering: each lowering verified exactly against the interpreter on every input
of small lengths, and every CompileError."""

from __future__ import annotations

import pytest

import compiler
from compiler.errors import CompileError
from compiler.testing import assert_exact, compile_exact, env_with


def test_categorical_attention_reverse():
    prog = compile_exact(
        "flip = select(indices, length - indices - 1, ==);r = aggregate(flip, tokens);",
        "r",
        ["a", "b", "c"],
        5,
    )
    assert prog.run("abc") == ["c", "b", "a"]
    assert prog.stats["layers"] == 2


def test_numerical_mean_of_non_binary_values():
    prog = compile_exact(
        "m = aggregate(select(indices, indices, <=), tokens_int * 3 - 1);", "m", [0, 1, 5], 4
    )
    assert prog.run([5, 0, 1]) == [14, 6.5, 5.0]


def test_string_and_none_defaults():
    prog = compile_exact(
        's = aggregate(select(indices, indices - 1, ==), tokens, "_");', "s", ["a", "b"], 4
    )
    assert prog.run("ab") == ["_", "a"]
    # The text language has no None; IR built from Python may (Tracr turns it into 0).
    env = env_with(
        "f = aggregate(select(indices, 0, ==), tokens);"
        "g = aggregate(select(indices, 1, ==), tokens_int);"
    )
    env.expression("f").default = None
    env.expression("g").default = None
    for name, vocab in (("f", ["a", "b"]), ("g", [1, 2])):
        prog = compiler.compile(env, name, vocab=vocab, max_len=4)
        assert_exact(prog, vocab, 4)
    compile_exact('d = aggregate(select(tokens, "a", ==), indices, -1);', "d", ["a", "b"], 4)


def test_multi_input_maps_and_ternaries():
    compile_exact("x = tokens_int + indices * 2;", "x", [0, 1, 2], 4)
    compile_exact(
        'c = (tokens_int + 1) * (indices + 1); t = "big" if c > 3 else tokens_str;',
        "t",
        [0, 1, 2],
        4,
    )
    compile_exact(
        "w = selector_width(select(tokens, tokens, ==)); v = w * length - indices;",
        "v",
        ["a", "b"],
        5,
    )


def test_numeric_maps_of_means_are_discretised():
    compile_exact(
        'f = aggregate(select(indices, indices, <=), indicator(tokens == "a"));'
        "g = round(f * 10) % 3;",
        "g",
        ["a", "b"],
        5,
    )


def test_constants_and_token_functions():
    compile_exact("k = tokens_int * 0 + 7;", "k", [1, 2], 3)
    compile_exact('u = tokens + "!";', "u", ["a", "b"], 3)
    compile_exact("p = indices % 2 == 0;", "p", ["a"], 5)


def test_causal_models():
    prog = compile_exact(
        'f = aggregate(select(indices, indices, <=), indicator(tokens == "x"));', "f", ["a", "x"], 5
    )
    assert prog.manifest.causal  # the mask replaces the prefix selector
    with pytest.raises(CompileError, match="causal"):
        compiler.compile(env_with(), "length", vocab=["a"], max_len=4, causal=True)


def test_structurally_equal_expressions_compile_once():
    prog = compile_exact(
        'a = aggregate(select(indices, indices, <=), indicator(tokens == "x"));'
        'b = aggregate(select(indices, indices, <=), indicator(tokens == "y"));'
        "d = a - b;",
        "d",
        ["x", "y", "z"],
        4,
    )
    assert prog.stats["heads"] == 1  # one head averages the difference


def test_compile_errors_name_the_expression_and_place():
    env = env_with(
        "s = select(indices, indices, ==);\n"
        'm = aggregate(select(indices, indices, <=), tokens_int, "none");\n'
    )
    with pytest.raises(CompileError, match="selector") as e:
        compiler.compile(env, "s", vocab=["1"], max_len=3)
    with pytest.raises(CompileError) as e:
        compiler.compile(env, "m", vocab=[1, 2], max_len=3)
    assert e.value.line == 2 and "not a number" in e.value.message
    with pytest.raises(CompileError, match="not an s-op"):
        compiler.compile(env, "3", vocab=["a"], max_len=3)
    with pytest.raises(CompileError, match="empty"):
        compiler.compile(env, "tokens", vocab=[], max_len=3)
    with pytest.raises(CompileError, match="max_len"):
        compiler.compile(env, "tokens", vocab=["a"], max_len=0)


def test_too_many_values_is_a_compile_error():
    env = env_with(
        'f = aggregate(select(indices, indices, <=), indicator(tokens == "a"));\n'
        'g = aggregate(select(indices, indices, <), indicator(tokens == "b"));\n'
        "h = round(f * 1000 + g * 7 + indices);\n"
    )
    with pytest.raises(CompileError) as e:
        compiler.compile(env, "h", vocab=["a", "b"], max_len=40)
    assert e.value.line is not None


def test_a_program_that_always_raises_is_refused():
    with pytest.raises(CompileError, match="raises"):
        compiler.compile(env_with(), "tokens_int + 1", vocab=["a", "b"], max_len=3)


def test_constant_selector_parts_and_one_valued_numbers_compile():
    # an `and` whose parts are constant at length 1 (no free score to choose)
    compile_exact(
        "",
        "aggregate(select(indices, 0, ==) and select(indices, indices, ==), tokens)",
        ["a", "b"],
        1,
    )
    # a mean over one token value: 5 and 5.0 are one point, the map is constant there
    compile_exact("", "round(aggregate(select(1, 1, ==), tokens_int))", [5], 4)


def test_refusal_carets_sit_under_the_expression():
    env = env_with('x = 1;\nm = aggregate(select(indices, indices, <=), tokens_int, "no");\n')
    with pytest.raises(CompileError) as e:
        compiler.compile(env, "m", vocab=[1, 2], max_len=3)
    err = e.value
    assert err.source_line.startswith("m = aggregate(")
    assert err.source_line[err.column - 1 :].startswith("aggregate(")
    caret = str(err).splitlines()[2]  # the message, the quoted line, the caret, the hint
    assert caret.index("^") == 4 + err.column - 1 and caret.strip() == "^"


def test_an_mlp_may_enumerate_more_tuples_than_a_fused_one():
    # 65 x 65 tuples: more than fusion takes (4,096), fewer than one MLP may (16,384)
    env = env_with(
        'x = selector_width(select(tokens, "a", ==));'
        'y = selector_width(select(tokens, "b", ==)); z = x > y;'
    )
    prog = compiler.compile(env, "z", vocab=["a", "b"], max_len=64)
    assert prog.run("ab" * 20 + "a") == [True] * 41
    assert prog.run("b" * 64) == [False] * 64
