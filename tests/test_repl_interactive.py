"""The interactive session's own additions to the original REPL: errors that name the line and
column, every statement of a line run, meta commands and `help`, long output cut to the
terminal, and internal errors that do not end the session."""

import re

import pytest
from repl_piping import body, piped

from rasp.repl import HELP, ReplSession, text_of


def test_interactive_errors_name_the_column():
    session = ReplSession(interactive=True)
    out = text_of(session.run_text("x = 1 +* 2;"))
    assert out.startswith("!! syntax error: unexpected '*'")
    assert out.endswith("at column 8\n   x = 1 +* 2;\n          ^\n")
    session.run_text("x = 1;")
    out = text_of(session.run_text("y = x + nosuch;"))
    assert "Undefined variable: nosuch" in out and "at column 9" in out
    lines = text_of(session.run_text("z = 1;\nw = tokens_int + 1;")).splitlines()
    assert lines[0] == "    value: z =  1"
    assert lines[2] == "   at line 2, column 5"


def test_interactive_runs_every_statement_of_a_line():
    session = ReplSession(interactive=True)
    assert text_of(session.run_text("a = 1; b = a + 1;")) == (
        "    value: a =  1\n    value: b =  2\n"
    )


def test_interactive_error_inside_an_earlier_function():
    session = ReplSession(interactive=True)
    session.run_text("def f(x) {\n  y = x + nosuch;\n  return y;\n}")
    assert text_of(session.run_text("f(1);")) == (
        "!! error: Undefined variable: nosuch\n   at line 2, column 11 of an earlier input\n"
        "   in f, called from line 1, column 1: f(1)\n"
    )


def test_an_internal_error_does_not_end_the_session(monkeypatch):
    session = ReplSession()

    def broken(statement, path=None):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(session.env, "execute", broken)
    out = body(piped("1;\n", session))
    assert out == ">> something went wrong: boom\n>> \n"
    session.interactive = True
    assert text_of(session.run_text("1;")) == "!! internal error (ZeroDivisionError): boom\n"


def test_long_echo_is_cut_to_the_terminal(monkeypatch):
    """A 200-token running example: the selector's top-left corner and one note."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    session = ReplSession(interactive=True)
    session.run_text('set example "' + "ab" * 100 + '"')
    out = text_of(session.run_text("sel = select(indices, indices, <);"))
    lines = out.splitlines()
    assert len(lines) == 23 and max(len(line.expandtabs()) for line in lines) <= 80
    assert lines[-1] == "(181 more lines, 20 lines cut at 80 columns: :cut off shows all)"
    session.run_text(":cut off")
    assert len(text_of(session.run_text("sel2 = select(indices, indices, <);")).splitlines()) > 200
    piped = ReplSession()  # the piped REPL prints what the original prints, never cut
    piped.run_text('set example "' + "ab" * 100 + '"')
    assert len(text_of(piped.run_text("sel = select(indices, indices, <);")).splitlines()) > 200


# ---- meta commands and help --------------------------------------------------------------------


def test_meta_commands():
    session = ReplSession()
    assert "set [s-op|selector] example" in text_of(session.run_meta(":help"))
    assert "unknown command :nope" in text_of(session.run_meta(":nope"))
    assert body(piped(":help\n1;\n")).endswith(">>     value: out =  1\n>> \n")


@pytest.mark.parametrize(
    "typed, message",
    [
        (":attn", "!! give an s-op: a name or an expression, e.g. :attn reverse\n"),
        (":compile tokens --vocab ,", "!! --vocab needs at least one token, e.g. --vocab a,b,c\n"),
        (":compile tokens --max-len 99999", "!! --max-len must be between 1 and 4096, got 99999\n"),
        (":cut maybe", "!! :cut on (cut long output to the terminal) or :cut off\n"),
    ],
)
def test_meta_command_usage_errors(typed, message):
    assert text_of(ReplSession(interactive=True).run_text(typed)) == message


@pytest.mark.parametrize("text", ["help", "help;", "  help ;"])
def test_bare_help_answers_with_the_help(text):
    session = ReplSession(interactive=True)
    assert text_of(session.run_text(text)) == HELP + "\n"
    session.run_text("help = 3;")  # a user's own `help` is theirs
    assert "3" in text_of(session.run_text("help;"))


def test_help_names_every_meta_command():
    """The help lists what the session answers to: a meta command added later shows up."""
    assert sorted(ReplSession().meta) == sorted(set(re.findall(r"^  :(\w+)", HELP, re.M)))


def test_help_gives_the_compile_options():
    """`:compile` and `:attn` take --vocab and --max-len (else the running example's): the
    help said neither."""
    assert "--vocab a,b,c and --max-len N" in HELP and "the running\n      example's" in HELP
