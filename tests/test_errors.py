"""Bad input gives one clear RaspError (API) or one clean line with exit status 1 (CLI)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import rasp
from rasp.cli import main
from rasp.repl import ReplSession, text_of


@pytest.fixture
def env():
    return rasp.Environment()


BAD_PROGRAMS = [
    ("x = (1 + ;", rasp.RaspSyntaxError, "expected"),
    ("y = nosuch + 1;", rasp.RaspNameError, "Undefined variable: nosuch"),
    ("z = count(tokens);", rasp.RaspTypeError, "wrong number of args"),
    ("a, b = 1, 2, 3;", rasp.RaspTypeError, "expected 2 values"),
    ("length = 3;", rasp.RaspNameError, "reserved name: length"),
    ("s = select(indices, indices, ==) + 1;", rasp.RaspTypeError, "selector"),
    ("t = aggregate(indices, tokens);", rasp.RaspTypeError, "Expected selector"),
    ('load "no/such/file";', rasp.RaspNameError, "could not find file"),
    ("r = range(3.0);", rasp.RaspTypeError, "integer"),
    ('q = tokens != "a";', rasp.RaspSyntaxError, "only allowed inside select"),
]


@pytest.mark.parametrize(("source", "cls", "text"), BAD_PROGRAMS)
def test_bad_programs(env, source, cls, text):
    with pytest.raises(cls) as info:
        env.run(source, "prog.rasp")
    err = info.value
    assert text in err.message
    assert err.line == 1 and err.column is not None
    assert str(err).startswith("prog.rasp:1:")


BAD_EVALUATIONS = [
    ("aggregate(full_s, tokens)", "hello", "non-numbers"),  # averaging strings
    ('"a" if tokens == "a" else 3', "ab", "different types"),  # a type mix
    ("tokens + 1", "ab", "can only concatenate"),
    ("1 / indices", "ab", "division by zero"),
    ("tokens_int", "ab", "invalid literal"),
    ("tokens", "", "non-empty"),  # an empty input
    ("indices", [], "non-empty"),
    ("indices", 5, "non-empty"),
]


@pytest.mark.parametrize(("expr", "given", "text"), BAD_EVALUATIONS)
def test_bad_evaluations(env, expr, given, text):
    with pytest.raises(rasp.RaspError) as info:
        env.evaluate(expr, given)
    assert text in info.value.message


def test_syntax_error_points_at_the_problem(env):
    source = "a = 1;\nb = select(indices, indices ==);\n"
    with pytest.raises(rasp.RaspSyntaxError) as info:
        env.run(source, "f.rasp")
    err = info.value
    assert (err.line, err.column) == (2, 31)
    text = str(err)
    assert text.splitlines()[0].startswith("f.rasp:2:31: unexpected ')'; expected")
    assert "b = select(indices, indices ==);" in text
    assert text.splitlines()[-1].strip() == "^"
    assert text.splitlines()[-1].index("^") == text.splitlines()[-2].index(")")


def test_errors_keep_earlier_definitions(env):
    env.run("keep = indices + 1;")
    with pytest.raises(rasp.RaspError):
        env.run("bad = keep + nosuch;")
    assert env.evaluate("keep", "ab") == [1, 2]
    with pytest.raises(rasp.RaspNameError):
        env.evaluate("bad", "ab")


def test_evaluation_error_names_the_input_in_a_batch(env):
    with pytest.raises(rasp.RaspEvalError) as info:
        env.evaluate_batch("tokens_int", ["12", "3x", "4"])
    assert "'3x'" in info.value.message or "['3', 'x']" in info.value.message


def test_runtime_error_located_at_the_expression(env):
    env.run("x = 1;\ny = 10 / (indices - 1);\n", "g.rasp")
    with pytest.raises(rasp.RaspEvalError) as info:
        env.evaluate("y", "abc")
    assert (info.value.line, info.value.path) == (2, "g.rasp")


# ---- through the CLI -----------------------------------------------------------------------


def _cli(args):
    return CliRunner().invoke(main, args)


def test_cli_syntax_error_is_one_clean_message(tmp_path):
    prog = tmp_path / "bad.rasp"
    prog.write_text("x = select(indices, indices ==);\n")
    result = _cli(["run", str(prog)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{prog}:1:31" in result.output


@pytest.mark.parametrize(
    "source",
    [
        "y = nosuch;",
        "z = count(tokens);",
        "a = aggregate(full_s, tokens);\n",
        'load "missing";',
    ],
)
def test_cli_user_errors_exit_1(tmp_path, source):
    prog = tmp_path / "p.rasp"
    prog.write_text(source)
    result = _cli(["check", str(prog)])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_cli_non_utf8_file(tmp_path):
    prog = tmp_path / "latin.rasp"
    prog.write_bytes(b'x = "caf\xe9";\n')
    result = _cli(["run", str(prog)])
    assert result.exit_code == 1
    assert "not UTF-8" in result.output


def test_cli_bad_usage_exits_2(tmp_path):
    assert _cli(["run"]).exit_code == 2
    assert _cli(["run", str(tmp_path / "missing.rasp")]).exit_code == 2
    assert _cli(["no-such-command"]).exit_code == 2


def test_cli_empty_input(tmp_path):
    prog = tmp_path / "p.rasp"
    prog.write_text("r = indices;\n")
    result = _cli(["run", str(prog), "-e", "r", "-i", '""'])
    assert result.exit_code == 1
    assert "non-empty" in result.output


def test_check_reports_every_error(tmp_path):
    prog = tmp_path / "multi.rasp"
    prog.write_text("a = (1 + ;\nb = 2;\nc = select(indices, indices ==);\nd = nosuch;\n")
    result = _cli(["check", str(prog)])
    assert result.exit_code == 1
    assert f"{prog}:1:10" in result.output and f"{prog}:3:31" in result.output
    assert "Undefined variable: nosuch" in result.output
    assert "3 error(s)" in result.output


def test_check_passes_every_example():
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "examples").glob("*.rasp")):
        result = _cli(["check", str(path)])
        assert result.exit_code == 0, result.output


# ---- where runtime errors point ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "run"])
def test_cli_caret_sits_under_the_expression(tmp_path, command):
    """The caret is under the failing expression in the whole source line (not under a
    snippet of the expression), tabs kept."""
    path = tmp_path / "bad.rasp"
    path.write_text("a = 1;\n\tb, c = 1, tokens_int + 1;\n")
    result = CliRunner().invoke(
        main, [command, str(path), "-e", "c"] if command == "run" else [command, str(path)]
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "invalid literal for int()" in line)
    assert f"{path}:2:12:" in lines[at]
    source, caret = lines[at + 1], lines[at + 2]
    assert source == "    \tb, c = 1, tokens_int + 1;"
    assert caret == "    \t" + " " * 10 + "^"
    assert source[caret.index("^") :].startswith("tokens_int")


def test_cli_error_in_the_library_names_its_line_and_the_use(tmp_path):
    path = tmp_path / "lib.rasp"
    path.write_text("def g(s) {\n  return average(s) + 1;\n}\ny = g(tokens);\n")
    result = CliRunner().invoke(main, ["run", str(path), "-e", "y", "-i", "abc"])
    assert result.exit_code == 1
    library = (Path(rasp.__file__).parent / "stdlib.rasp").read_text().splitlines()
    line = next(i for i, text in enumerate(library, 1) if "aggregate(full_s, a)" in text)
    assert f"stdlib.rasp:{line}:" in result.output
    assert library[line - 1].rstrip() in result.output
    assert f"used at {path}:2:10: average(s) + 1" in result.output


def test_repl_error_in_a_library_function_says_file_line_and_call():
    """Not "line 47 of an earlier input": the library's file and line, and the user's call."""
    session = ReplSession(interactive=True)
    out = text_of(session.run_text("x = 1 + average(tokens);"))
    library = (Path(rasp.__file__).parent / "stdlib.rasp").read_text().splitlines()
    line = next(i for i, text in enumerate(library, 1) if "aggregate(full_s, a)" in text)
    assert f"at stdlib.rasp:{line}:" in out and "earlier input" not in out
    assert library[line - 1].rstrip() in out
    assert "in average, called from line 1, column 9: average(tokens)" in out
    shown, caret = out.splitlines()[2:4]
    assert shown[caret.index("^") :].startswith("aggregate(")


def test_repl_error_in_an_earlier_function_says_where_it_was_called():
    session = ReplSession(interactive=True)
    session.run_text("def f(x) {\n  return x + tokens_int;\n}")
    out = text_of(session.run_text("z = f(1);"))
    assert "at line 2, column 14 of an earlier input" in out
    assert "in f, called from line 1, column 5: f(1)" in out


def test_a_loaded_file_places_syntax_errors_after_comments_and_joined_lines():
    """Read line by line as the original reads a loaded file: a statement starts at its own
    line (not at a comment or blank line before it) and a line joined to an unfinished one
    keeps its columns (an error was one line early and one column right)."""
    from rasp.parser import read_statements

    text = "# a comment\nx = 1;\n\n# another\ny = (1 +\n  2;\nz = (\n  3 +;\n"
    found = read_statements(text, "h.rasp")
    errors = [f for f in found if isinstance(f, rasp.RaspSyntaxError)]
    assert [(e.line, e.column) for e in errors] == [(6, 4), (8, 6)]
    assert [s.span.line for s in found if not isinstance(s, rasp.RaspSyntaxError)] == [2]
