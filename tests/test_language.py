"""The language's rules: precedence, scoping, load, loops, comprehensions, builtins."""

import io

import pytest

import rasp
from rasp.repl import run_piped


@pytest.fixture
def env():
    return rasp.Environment()


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("2 % 3 * 4", 2),  # % binds looser than * and /
        ("2 ^ 3 ^ 2", 64),  # ^ is left-associative
        ("-2 ^ 2", 4),  # prefix minus binds tighter than ^
        ("True or False and False", False),  # and/or share one level, left to right
        ("1 if True else 2 if False else 3", 3),  # the ternary is left-associative
        ("1 < 2 < 3", True),  # (1 < 2) < 3
        ("3 in [1, 2] + [3]", True),  # in is the lowest
        ("7 / 2", 3.5),
        ("-7 % 3", 2),
        ("round(2.5)", 2),
        ("round(3.5)", 4),
        ("0 or 5", 5),
        ('"ab" * 2', "abab"),
        ("[1, 2] + [3]", [1, 2, 3]),
        ("len([1, 2, 3])", 3),
        ("range(2, 10, 3)", [2, 5, 8]),
        ("zip([1], [2])", [[1, 2]]),
        ("[x * 2 for x in range(3)]", [0, 2, 4]),
        ('{k: v for k, v in zip(["a", "b"], [1, 2])}', {"a": 1, "b": 2}),
        ('{"a": 1}["a"]', 1),
        ("[1, 2, 3][-1]", 3),
        ('"hello"[1]', "e"),
        ("1.50 + 1", 2.5),
    ],
)
def test_plain_values(env, expr, value):
    got = env.evaluate(expr)
    assert got == value and type(got) is type(value)


def test_not_binds_tighter_than_comparison(env):
    assert env.evaluate('not tokens == "s"', "sas") == [False] * 3
    assert env.evaluate('not (tokens == "s")', "sas") == [False, True, False]


def test_multi_assignment_and_returns(env):
    env.run("def two(x) { return x, x + 1; }\na, b = two(1);\nc = 1, 2;")
    assert env.evaluate("a") == 1 and env.evaluate("b") == 2
    assert env.evaluate("c") == [1, 2]


def test_late_binding(env):
    env.run("def f() { return k * 2; }\nk = 3;")
    assert env.evaluate("f()") == 6
    env.run("k = 5;")
    assert env.evaluate("f()") == 10


def test_sops_keep_the_values_bound_when_built(env):
    env.run('def get_tok() { return tokens; }\nold = tokens + "!";\ntokens = tokens_int;')
    assert env.evaluate("old", [1, 2]) == ["1!", "2!"]
    assert env.evaluate("get_tok() + 1", [1, 2]) == [2, 3]


def test_for_loop_runs_in_the_current_scope(env):
    env.run(
        "total = 0;\nfor x in [1, 2, 3] { total = total + x; }\n"
        'for k, v in [[1, 2], [3, 4]] { last = k + v; }\nfor key in {"a": 1} { kk = key; }'
    )
    assert env.evaluate("total") == 6 and env.evaluate("x") == 3
    assert env.evaluate("last") == 7 and env.evaluate("kk") == "a"


def test_recursion_through_lazy_ternary(env):
    env.run("def fact(n) { return 1 if n < 2 else n * fact(n - 1); }")
    assert env.evaluate("fact(10)") == 3628800


def test_locals_may_shadow_library_names_but_not_constants(env):
    env.run("def f(length) { return length + 1; }")
    assert env.evaluate("f(1)") == 2
    with pytest.raises(rasp.RaspNameError):
        env.run("def g(indices) { return 1; }\ny = g(1);")


def test_load_copies_public_names_only(env, tmp_path, monkeypatch):
    (tmp_path / "lib.rasp").write_text(
        "_hidden = 1;\nshown = _hidden + 1;\ndef twice(x) { return x * 2; }\n"
    )
    (tmp_path / "outer.rasp").write_text('load "lib";\nouter_val = shown * 10;\n')
    monkeypatch.chdir(tmp_path)
    env.run('load "outer";')
    assert env.evaluate("shown") == 2 and env.evaluate("outer_val") == 20
    assert env.evaluate("twice(4)") == 8
    with pytest.raises(rasp.RaspNameError):
        env.evaluate("_hidden")


def test_loaded_file_sees_the_library_not_the_caller(env, tmp_path, monkeypatch):
    (tmp_path / "peek.rasp").write_text("seen = tokens;\n")
    monkeypatch.chdir(tmp_path)
    env.run('tokens = tokens_int;\nload "peek";')
    assert env.evaluate("seen", [1, 2]) == ["1", "2"]  # tokens_str, not the caller's tokens


def test_sop_indexing(env):
    assert env.evaluate("tokens[0]", "hello") == ["h"] * 5
    assert env.evaluate("indices[-2]", "hello") == [3] * 5
    assert env.evaluate("tokens[7]", "ab") == [0, 0]  # out of range: the default 0
    with pytest.raises(rasp.RaspTypeError):
        env.evaluate("tokens[indices]", "ab")


def test_in_with_sops(env):
    assert env.evaluate('tokens in ["a", "b"]', "abc") == [True, True, False]
    assert env.evaluate('"c" in tokens', "abc") == [True] * 3


def test_selector_logic(env):
    sel = 'select(indices, indices, <) or select(tokens, "a", ==)'
    assert env.evaluate(sel, "ab") == [[True, False], [True, False]]
    assert env.evaluate("not select(indices, indices, ==)", "ab") == [[False, True], [True, False]]


def test_aggregate_semantics(env):
    # mean over several; pass-through of a single value keeps its type; default when none
    assert env.evaluate("aggregate(select(indices, indices, <=), indices)", "abc") == [0, 0.5, 1.0]
    assert env.evaluate('aggregate(select(indices, indices - 1, ==), tokens, "-")', "ab") == [
        "-",
        "a",
    ]
    with pytest.raises(rasp.RaspEvalError, match="non-numbers"):
        env.evaluate("aggregate(full_s, tokens_bool)", "ab")


def test_comments_between_statements_not_inside_expressions(env):
    env.run("# top\nx = 1; # trailing\ndef f() {\n  # inside\n  return 2;\n  # end\n}\n")
    assert env.evaluate("f()") == 2
    with pytest.raises(rasp.RaspSyntaxError):
        env.run("y = [1, # no\n 2];")


def test_keywords_with_parenthesis(env):
    with pytest.raises(rasp.RaspSyntaxError):
        env.run("s = select (indices, indices, ==);")
    with pytest.raises(rasp.RaspSyntaxError):
        env.run("s-op;")


# ---- as the original RASP behaves (outputs computed by running it) ------------------------------


def _piped(stdin: str) -> str:
    out = io.StringIO()
    run_piped(io.StringIO(stdin), out)
    return out.getvalue().split("\n", 2)[2]  # without the banner


EXPRESSION_SET = (
    "{'(', '{', 'aggregate(', '[', 'not', '-', '+', 'round', 'indicator', "
    "'select(', 'range(', 'zip(', 'len(', Float, PosInt, String, ID}"
)


@pytest.mark.parametrize("builtin", ["zip", "range"])
def test_zip_and_range_need_an_argument(builtin):
    assert _piped(f"{builtin}();\n") == (
        f">> \t!! antlr exception: mismatched input ')' "
        f"expecting {EXPRESSION_SET} \t-- ignoring input\n>> \n"
    )


def test_a_loaded_file_goes_on_after_a_syntax_error(tmp_path, monkeypatch):
    """The original reports the broken statement and still runs the later ones; a statement
    that fails on the running example binds nothing (`tokens` stays strings)."""
    (tmp_path / "broken.rasp").write_text(
        "a = 1;\nb = (1 +;\nc = 3;\nx = indices + 1;\ntokens = tokens_int;\nd = x;\n"
    )
    monkeypatch.chdir(tmp_path)
    out = _piped('load "broken";\na;\nc;\nd;\ntokens;\nb;\n')
    listing, rest = out.split("\n>> ", 1)
    assert listing.startswith(">> \t!! antlr exception: missing ')' at '+' \t-- ignoring input\n")
    assert listing.endswith(
        "    value: a =  1\n    value: c =  3\n     s-op: x\n"
        "something went wrong: invalid literal for int() with base 10: 'h'\n"
        "     s-op: d"
    )
    assert rest == (
        "    value: a =  1\n>>     value: c =  3\n"
        '>>      s-op: d\n \t Example: d("hello") = [1, 2, 3, 4, 5] (ints)\n'
        '>>      s-op: tokens\n \t Example: tokens("hello") = [h, e, l, l, o] (strings)\n'
        ">> \t\t!!ignoring input:\n\t Error: Undefined variable: b\n>> \n"
    )


def test_an_aggregate_of_one_huge_int_passes_it_through(env):
    big = 10**400
    assert env.evaluate("aggregate(select(indices, 0, ==), tokens_int)", [big, 1]) == [big, big]
    with pytest.raises(rasp.RaspError, match="int too large to convert to float"):
        env.evaluate("aggregate(full_s, tokens_int)", [big, 1])  # the mean: Python's error


def test_recursion_as_deep_as_the_original():
    define = "def r(n) {\n return 0 if n == 0 else 1 + r(n - 1);\n}\n"
    assert _piped(define + "r(108);\n").endswith(">>     value: out =  108\n>> \n")
    assert _piped(define + "r(5000);\n").endswith(
        ">> something went wrong: maximum recursion depth exceeded\n>> \n"
    )


def test_the_running_example_check_reaches_arguments_and_lists():
    """Every s-op made is tried on the example at once: inside calls, lists and dicts."""
    define = "def f(a) {\n return 1;\n}\n"
    for stdin in ("f(indices / 0);\n", "x = [1, indices / 0];\n", 'x = {"k": indices / 0};\n'):
        assert "something went wrong: division by zero" in _piped(define + stdin)
    # the input of a call is tried first: tokens_int fails on "hello", not on [1, 2]
    assert _piped("tokens_int([1, 2]);\n") == ">> \t =  [1, 2] (ints)\n>> \n"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [  # the original's messages (its parser's)
        ("x = (1 + 2;", "missing ')' at ';'"),
        ("x = round(3;", "missing ')' at ';'"),
        ("x = [1, 2;", "missing ']' at ';'"),
        ("x = len([1];", "missing ')' at ';'"),
        ("x = ((1);", "missing ')' at ';'"),
        ("round 3;", "missing '(' at '3'"),
    ],
)
def test_a_missing_bracket_is_named(stdin, message):
    assert _piped(stdin + "\n") == f">> \t!! antlr exception: {message} \t-- ignoring input\n>> \n"
