"""Piped sessions word syntax errors as the original's ANTLR parser did (rasp/repl_antlr.py):
each message here is what the original RASP printed for the input."""

import pytest
from repl_piping import body
from repl_piping import piped as whole


def piped(stdin: str) -> str:
    """A piped session's output after the banner."""
    return body(whole(stdin))


STATEMENT_SET = (
    "{'set', 's-op', 'selector', 'show', 'full seq display', 'examples', 'exit()', "
    "'exit', 'quit', 'quit()', 'load', 'draw', '(', 'def', '{', 'for', 'aggregate(', "
    "'[', 'not', '-', '+', 'round', 'indicator', 'select(', 'range(', 'zip(', 'len(', "
    "Float, PosInt, String, Comment, ID}"
)
EXPRESSION_SET = (
    "{'(', '{', 'aggregate(', '[', 'not', '-', '+', 'round', 'indicator', "
    "'select(', 'range(', 'zip(', 'len(', Float, PosInt, String, ID}"
)

LOOP_BODY_SET = (
    "{'load', 'draw', '(', 'def', '{', 'for', 'aggregate(', '[', 'not', '-', '+', 'round', "
    "'indicator', 'select(', 'range(', 'zip(', 'len(', Float, PosInt, String, Comment, ID}"
)
FUNCTION_BODY_SET = LOOP_BODY_SET.replace("'for', ", "'for', 'return', ")


# What the original printed for these inputs (its test suite's transcripts).
@pytest.mark.parametrize(
    "stdin, message",
    [
        ("if;", f"mismatched input 'if' expecting {STATEMENT_SET}"),
        ("in 4;", f"extraneous input 'in' expecting {STATEMENT_SET}"),
        ("tokens;;", "extraneous input ';' expecting {<EOF>, " + STATEMENT_SET[1:]),
        ("not=3;", f"extraneous input '=' expecting {EXPRESSION_SET}"),
        ("selector_width(tokens,tokens,==);", f"mismatched input '==' expecting {EXPRESSION_SET}"),
        ("def=4;", "mismatched input '=' expecting ID"),
        ("for in;", "missing ID at 'in'"),
        ('tokens != "a";', "no viable alternative at input 'tokens!='"),
        # After a select's comparison only `)` may come (the original, run on each of these).
        ("x = select(indices, indices, ==;", "missing ')' at ';'"),
        ("x = aggregate(select(indices, indices, <, tokens);", "missing ')' at ','"),
        ("x = select(indices, indices, == 3);", "extraneous input '3' expecting ')'"),
        ("x = select(indices, indices, != y;", "mismatched input 'y' expecting ')'"),
        ("x = select(indices, indices, <];", "mismatched input ']' expecting ')'"),
        # A statement's keywords, then a token that cannot follow them (the original's words).
        ("selector example on", "mismatched input 'example' expecting 'examples'"),
        ('set foo "ab"', "mismatched input 'foo' expecting {'s-op', 'selector', 'example'}"),
        ('set selector foo "ab"', "missing 'example' at 'foo'"),
        ("full seq display maybe", "missing {'on', 'off'} at 'maybe'"),
        ("load foo;", "mismatched input 'foo' expecting String"),
        ('load "x" "y";', "extraneous input '\"y\"' expecting ';'"),
        ("draw x;", "missing '(' at 'x'"),
        ("for x range(3) { y = x; }", "missing 'in' at 'range('"),
        # After a whole assignment or return value only `;` may come.
        ("x = y = 1;", "mismatched input '=' expecting ';'"),
        ("x, y = 1 2;", "extraneous input '2' expecting ';'"),
        ("def f(a) { return a b; }", "extraneous input 'b' expecting ';'"),
        ("tokens 3;", "no viable alternative at input 'tokens3'"),  # an expression statement
        ("x = (1 2);", "extraneous input '2' expecting ')'"),
        # A list or dict not yet known to be a comprehension: ANTLR's look-ahead from its
        # bracket fails; once decided, the usual recovery.
        ("x = [1 2];", "no viable alternative at input '[12'"),
        ("x = [1 +];", "no viable alternative at input '[1+]'"),
        ("x = [(1 2)];", "no viable alternative at input '[(12'"),
        ('x = {"a": 1 2};', "no viable alternative at input '{\"a\":12'"),
        (
            "x = [select(indices, indices, ==];",
            "no viable alternative at input '[select(indices,indices,==]'",
        ),
        ("x = [1, 2 3];", "extraneous input '3' expecting ']'"),
        ("x = [i for i range(3)];", "missing 'in' at 'range('"),
        # After a value, `+`, `-`, a call's `(` or an index's `[` could start a statement:
        # an error in what follows them ends the expression before them.
        ("x = f(;", "extraneous input '(' expecting ';'"),
        ("x = 1 + ;", "extraneous input '+' expecting ';'"),
        ("x = 1 + 2 3;", "extraneous input '3' expecting ';'"),  # the operand was whole
        ("x = f(1, 2 3);", "extraneous input '3' expecting ')'"),  # `(1, 2` is a call's
        ("x = (1 +;", "missing ')' at '+'"),  # in parentheses `)` is what ANTLR wants then
        ("x = (1 + (2 3));", "missing ')' at '+'"),
        ("x = (1 +);", "extraneous input '+' expecting ')'"),
        # Where only a separator may come: a select's or an aggregate's `,`, a dict's `:`.
        ("x = select(indices indices, ==);", "extraneous input 'indices' expecting ','"),
        ("x = aggregate(select(indices, indices, ==) tokens);", "missing ',' at 'tokens'"),
        ('x = {"a": 1, "b" 2};', "missing ':' at '2'"),
        # Bodies: their first statement, a later one, and after a function's return.
        ("def f(n) { if n; }", f"extraneous input 'if' expecting {FUNCTION_BODY_SET}"),
        ("for i in range(2) { if i; }", f"extraneous input 'if' expecting {LOOP_BODY_SET}"),
        ("def f(n) { x = 1; if n; }", "mismatched input 'if' expecting 'return'"),
        ("def f(n) { x = 1; }", "mismatched input '}' expecting 'return'"),
        ("for i in range(2) { x = 1; if i; }", "mismatched input 'if' expecting '}'"),
        ("def f(n) { return n; in }", "extraneous input 'in' expecting {'}', Comment}"),
    ],
)
def test_syntax_errors_are_worded_like_antlr(stdin, message):
    assert piped(stdin + "\n") == (f">> \t!! antlr exception: {message} \t-- ignoring input\n>> \n")


def test_token_recognition_error():
    assert "token recognition error at: '@'" in piped("x = 1 @ 2;\n")


# A syntax error in a loaded file: the original read the file line by line, so its message is
# ANTLR's for the lines it held; the later statements still run.
@pytest.mark.parametrize(
    "program, message",
    [
        ("x = 1;\ny = ;\nz = 3;\n", f"mismatched input ';' expecting {EXPRESSION_SET}"),
        ("x = select(indices, indices, ==;\ny = 2;\n", "missing ')' at ';'"),
        ("x = 1 $ 2;\n", "token recognition error at: '$'"),
        ("def f(x) {\n  y = 1;\n}\n", "mismatched input '}' expecting 'return'"),
        (
            'set example "ab"\nx = tokens;\nselector examples maybe\n',
            "missing {'on', 'off'} at 'maybe'",
        ),
        ("a = 1; b = ;\nq = 2;\n", f"mismatched input ';' expecting {EXPRESSION_SET}"),
    ],
)
def test_a_loaded_files_syntax_error_is_worded_like_antlr(program, message, tmp_path, monkeypatch):
    (tmp_path / "bad.rasp").write_text(program)
    monkeypatch.chdir(tmp_path)
    first = piped('load "bad";\n').split("\n")[0]
    assert first == f">> \t!! antlr exception: {message} \t-- ignoring input"


@pytest.mark.parametrize(
    "stdin",
    [
        "x = 1 + (2 3);",
        "x = 1 - in;",
        "f(in 3);",
        "x = tokens[1 2];",
        "x = f(1 2);",
        "for i in [1, 2] { x = i }",  # `missing ';' at '}'`
    ],
)
def test_an_expression_ended_early_reads_on(stdin):
    """ANTLR says `missing ';'` before the `+`, `-`, `(` or `[`, so the original reads on."""
    assert piped(stdin + "\n") == ">> .. \n"


def test_a_missing_semicolon_reads_on_as_the_original_does():
    """The original takes ANTLR's `missing ';'` for an unfinished input, so `x = 1 y = 2;`
    joins every later line and prints nothing (run on the original: the same)."""
    assert piped("x = 1 y = 2;\nz = 3;\nz;\n") == ">> .. .. .. \n"
    assert piped("def f(a) { return a b = 1; }\nq = 2;\n") == (
        ">> \t!! antlr exception: mismatched input 'b' expecting ';' \t-- ignoring input\n"
        ">>     value: q =  2\n>> \n"
    )
