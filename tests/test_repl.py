"""The piped REPL: sessions print exactly the original's transcripts (line joining, prompts,
echoes, loads); errors never lose state."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repl_piping import body, piped

from rasp.repl import ReplSession, Status, parse_input, run_piped, text_of

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
TRANSCRIPTS = json.loads((DATA / "repl_transcripts.json").read_text())


@pytest.mark.parametrize("case", TRANSCRIPTS, ids=[t["id"] for t in TRANSCRIPTS])
def test_transcript(case):
    assert piped(case["stdin"]) == case["stdout"]


def test_transcript_through_the_command():
    """`rasp` with stdin from a pipe: plain text, no escape codes, the original's bytes."""
    case = next(t for t in TRANSCRIPTS if t["id"] == "repl.error_kinds")
    done = subprocess.run(
        [sys.executable, "-m", "rasp.cli"],
        input=case["stdin"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == case["stdout"]
    assert "\x1b" not in done.stdout


# ---- line joining and prompts ------------------------------------------------------------------


def test_eof_inside_a_statement_drops_it():
    assert body(piped("x = [1,\n2")) == ">> .. .. \n"


def test_exit_ends_at_once_without_a_newline():
    for word in ("exit", "quit", "exit()", "quit()"):
        assert body(piped(f"{word}\n1;\n")) == ">> "


def test_blank_line_continues_and_def_indents_the_prompt():
    out = body(piped("\ndef f(x) {\ndef g(y) {\nreturn y;\n}\nreturn g(x);\n}\n"))
    assert out.startswith(">> .. ..   ..     ..     ..     ..          console function: f(x)")


def test_comment_at_end_of_unfinished_line_swallows_the_rest():
    out = body(piped("x = [1, # c\n2];\nx;\n"))
    assert out == ">> .. .. .. \n"


def test_multiple_statements_on_one_line():
    assert body(piped("a = 1; b = 2;\na;\n")) == (
        ">> something went wrong: \n"
        ">> \t\t!!ignoring input:\n\t Error: Undefined variable: a\n>> \n"
    )


def test_parse_input_classification():
    assert parse_input("x = 1;").status is Status.COMPLETE
    assert parse_input("x = (1 +").status is Status.INCOMPLETE
    assert parse_input("").status is Status.INCOMPLETE
    assert parse_input("x = [1, # unfinished").status is Status.INCOMPLETE
    assert parse_input("a = 1; b = 2;").status is Status.MULTIPLE
    assert parse_input("x = = 1;").status is Status.ERROR


def test_ctrl_c_in_piped_mode_drops_the_pending_statement():
    class Interrupting(io.StringIO):
        def readline(self, *args):
            line = super().readline(*args)
            if line == "!\n":
                raise KeyboardInterrupt
            return line

    out = io.StringIO()
    run_piped(Interrupting("x = [1,\n!\n2;\n"), out)
    assert body(out.getvalue()) == ">> .. \n>>     value: out =  2\n>> \n"


# ---- state survives errors ---------------------------------------------------------------------


def test_errors_keep_earlier_definitions():
    session = ReplSession()
    out = body(piped("x = indices + 1;\ny = nosuch;\nz = tokens_int + 1;\n1/0;\nx;\n", session))
    assert "Error: Undefined variable: nosuch" in out
    assert "something went wrong: invalid literal for int() with base 10" in out
    assert out.endswith('>>      s-op: x\n \t Example: x("hello") = [1, 2, 3, 4, 5] (ints)\n>> \n')
    names = session.env.names()
    assert "x" in names and "y" not in names and "z" not in names


def test_failed_example_check_can_pass_on_another_example():
    out = body(piped("set example [1, 2]\nx = tokens_int + 1;\n"))
    assert out == ">> >>      s-op: x\n \t Example: x([1, 2]) = [2, 3] (ints)\n>> \n"


def test_echo_that_fails_after_the_statement_ran():
    """The selector example is shown, but only the s-op example was checked."""
    out = body(piped("set selector example []\nsel = select(indices, indices, ==);\nsel;\n"))
    assert "     selector: sel\n \t Example:\n" in out
    assert "statement executed, but result fails on evaluation" in out


# ---- echo formats ------------------------------------------------------------------------------


def test_multi_assignment_echoes_each_name():
    assert body(piped('a, b = 1, "x";\n')) == '>>     value: a =  1\n    value: b =  "x"\n>> \n'


def test_applied_selector_and_value_through_a_name():
    out = body(piped('select(indices, indices, ==)("ab");\nv = indices("ab");\nv;\n'))
    assert out == (
        ">> \t = \n \t\t\t     a b\n \t\t\t a | 1  \n \t\t\t b |   1\n"
        ">>     value: v =  [0, 1] (ints)\n>>     value: v =  [0, 1] (ints)\n>> \n"
    )


def test_full_display_right_aligns_to_the_widest_cell():
    out = body(
        piped('set example "abc"\nfull seq display on\nindices * 10;\n(indices == 0)("abcd");\n')
    )
    assert " \t\tinput:    a  b  c \t (strings)\n \t\toutput:   0 10 20 \t (ints)\n" in out
    assert " \t\tinput:   a b c d \t (strings)\n \t\toutput:  T       \t (bools)\n" in out


def test_full_display_skips_identical_values_of_an_application():
    out = body(piped('full seq display on\nlength("ab");\n'))
    assert out == ">> >> \t =   [2]*2 (ints) [skipped full display: identical values]\n>> \n"


def test_draw_writes_the_graph_and_echoes_the_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert body(piped('x = indices + 1;\ndraw(x, "ab");\n')).endswith(
        ">> \t =  [1, 2] (ints)\n>> \n"
    )
    drawn = tmp_path / "comp_flows" / "x_ab.pdf"  # no quotes or parentheses in the name
    assert drawn.read_bytes().startswith(b"%PDF")


def test_set_example_rejects_non_iterables():
    assert body(piped("set example 5\nshow example\n")) == (
        ">> \t\t!!ignoring input:\n\t example not iterable: 5\n"
        '>> \ts-op example: "hello"\n\tselector example: "hello"\n>> \n'
    )


# ---- loading files -----------------------------------------------------------------------------


def test_load_lists_public_names_and_missing_file(tmp_path, monkeypatch):
    (tmp_path / "lib.rasp").write_text(
        "_private = 1;\nrev = aggregate(select(indices, length - indices - 1, ==), tokens);\n"
        "def twice(x) {\n  return x + x;\n}\nn = 3;\nn = 4;\nflip = select(indices, 0, ==);\n"
    )
    monkeypatch.chdir(tmp_path)
    out = body(piped('load "lib";\nrev;\nload "nope";\n'))
    assert out == (
        ">>      s-op: rev\n     lib function: twice(x)\n    value: n =  4\n"
        "     selector: flip\n"
        '>>      s-op: rev\n \t Example: rev("hello") = [o, l, l, e, h] (strings)\n'
        ">> \t\t!!ignoring input:\n\t could not find file: nope.rasp\n>> \n"
    )


def test_load_reports_errors_and_goes_on(tmp_path, monkeypatch):
    (tmp_path / "bad.rasp").write_text("a = nosuch;\nb = 2;\n")
    monkeypatch.chdir(tmp_path)
    out = body(piped('load "bad";\nb;\n'))
    assert "Undefined variable: nosuch" in out
    assert out.endswith(">>     value: b =  2\n>> \n")


def test_load_errors_are_listed_in_file_order(tmp_path, monkeypatch):
    (tmp_path / "inner.rasp").write_text("i = 1;\nj = nosuch_inner;\n")
    (tmp_path / "outer.rasp").write_text(
        'a = 1;\nb = nosuch_outer;\nload "inner";\nc = 3;\na = 2;\n'
    )
    monkeypatch.chdir(tmp_path)
    out = body(piped('load "outer";\n'))
    assert out == (
        ">>     value: a =  1\n"
        "\t\t!!ignoring input:\n\t Error: Undefined variable: nosuch_outer\n"
        "    value: i =  1\n"
        "\t\t!!ignoring input:\n\t Error: Undefined variable: nosuch_inner\n"
        "    value: c =  3\n    value: a =  2\n>> \n"
    )


def test_functions_are_named_after_the_load_path(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.rasp").write_text("def f(a) {\n  return a;\n}\n")
    monkeypatch.chdir(tmp_path)
    assert body(piped('load "sub/f";\nf;\n')) == (
        ">>      sub/f function: f(a)\n>>      sub/f function: f(a)\n>> \n"
    )


def test_library_functions_are_named_as_in_the_original():
    assert body(piped("selector_width;\n")) == (
        ">>      RASP_support/rasplib function: selector_width(sel)\n>> \n"
    )
    session = ReplSession(interactive=True)
    assert text_of(session.run_text("sort;")) == "     library function: sort(seq, key)\n"


def test_nested_loads_as_the_original_lists_them(tmp_path, monkeypatch):
    """The original's own test of nested loads and private names (its transcript)."""
    (tmp_path / "loadA.rasp").write_text(
        'a=f; # fails: f is defined outside\na=3;\nload "loadB";\nc=b;\n'
        "d=_b; # fails: private to loadB\n_a=4;\ne=_a;"
    )
    (tmp_path / "loadB.rasp").write_text("g=f;\nb=7;\n_b = 8;\n_c=a; # fails: a is loadA's\n")
    monkeypatch.chdir(tmp_path)
    err = "\t\t!!ignoring input:\n\t Error: Undefined variable: {}\n"
    assert body(piped('f=10;\nload "loadA";\na;\nb;\nc;\nd;\ne;\nf;\n_a;\n_b;\n')) == (
        ">>     value: f =  10\n>> "
        + err.format("f")
        + "    value: a =  3\n"
        + err.format("f")
        + "    value: b =  7\n"
        + err.format("a")
        + "    value: c =  7\n"
        + err.format("_b")
        + "    value: e =  4\n"
        ">>     value: a =  3\n>>     value: b =  7\n>>     value: c =  7\n>> "
        + err.format("d")
        + ">>     value: e =  4\n>>     value: f =  10\n>> "
        + err.format("_a")
        + ">> "
        + err.format("_b")
        + ">> \n"
    )
