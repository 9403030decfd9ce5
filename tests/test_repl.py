"""The REPL: piped sessions print exactly the original's transcripts; errors never lose state."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rasp.repl import HELP, ReplSession, Status, parse_input, run_piped, text_of

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
TRANSCRIPTS = json.loads((DATA / "repl_transcripts.json").read_text())


def piped(stdin: str, session: ReplSession | None = None) -> str:
    out = io.StringIO()
    run_piped(io.StringIO(stdin), out, session)
    return out.getvalue()


def body(stdout: str) -> str:
    """A piped session's output without the banner."""
    return stdout.split("\n", 2)[2]


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


# ---- echo formats --------------------------------------------------------------------------------


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


# ---- the interactive session's own additions --------------------------------------------


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


def test_meta_commands():
    session = ReplSession()
    assert "set [s-op|selector] example" in text_of(session.run_meta(":help"))
    assert "unknown command :nope" in text_of(session.run_meta(":nope"))
    assert body(piped(":help\n1;\n")).endswith(">>     value: out =  1\n>> \n")


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


def test_compile_and_attn_commands():
    """The numbers are the compiler's (they improve as it does): check their shape only."""
    pytest.importorskip("compiler")
    session = ReplSession(interactive=True)
    session.run_text('set example "abc"')
    session.run_text("flip = select(indices, length - indices - 1, ==);")
    session.run_text("reverse = aggregate(flip, tokens);")
    out = text_of(session.run_text(":compile reverse"))
    assert (
        "     compiled: reverse\n\tvocab a,b,c, max length 3\n\t(the running example's; "
        "--vocab a,b --max-len N to change)\n" in out
    )
    assert re.search(r"\tlayers \d+, heads \d+, d_model \d+, mlp_hidden \d+, params [\d,]+\n", out)
    assert 'model("abc") = [c, b, a] (strings)' in out
    assert "matches the interpreter on the running example" in out
    out = text_of(session.run_text(":attn reverse"))
    assert re.search(r"head 0 of layer \d+: reverse <- flip", out)
    assert re.search(r"      a \|     1 +a +\. +\. +\. +1\n", out)
    out = text_of(session.run_text(":attn flip"))  # a selector: compiled inside an aggregate
    assert "RASP selector flip" in out
    assert " ".join(text_of(session.run_text(":compile flip")).split()) == (
        "!! flip is a selector: compile an s-op that uses it, e.g. :compile aggregate(flip, "
        "tokens), or see it with :attn flip"
    )  # wrapped to the terminal
    assert "--max-len needs a whole number" in text_of(
        session.run_text(":compile reverse --max-len")
    )
    out = text_of(session.run_text(":compile reverse --vocab a,b,c,d --max-len 8"))
    assert "\tvocab a,b,c,d, max length 8\n\tlayers" in out


@pytest.mark.parametrize("command", ["compile", "attn"])
def test_compile_of_a_function_says_how_to_call_it(command):
    """Not the interpreter's repr of the function (35 KB for sort): one line with a call."""
    pytest.importorskip("compiler")
    session = ReplSession(interactive=True)
    signature = session.env.expression("sort").signature()  # the library's parameter names
    out = text_of(session.run_text(f":{command} sort"))
    assert out == f"!! {signature} is a function: try :{command} sort(tokens, tokens)\n"
    assert text_of(session.run_text(f":{command} 3")) == (
        "!! 3 is a int, not an s-op: only s-ops (and, for :attn, selectors) compile\n"
    )


def test_a_refusal_shows_its_hint_within_80_columns(monkeypatch):
    """The compiler's refusal was one 230-column line without its hint (what would compile)."""
    pytest.importorskip("compiler")
    monkeypatch.setenv("COLUMNS", "80")
    session = ReplSession(interactive=True)
    session.run_text(
        'x = 1 if tokens == "a" else 1.0; m = aggregate(select(tokens, tokens, ==), x, 0);'
    )
    out = text_of(session.run_text(":compile m --vocab a,b --max-len 4"))
    assert out.startswith("!! cannot compile `m`: its value is an int on some inputs")
    assert "\n   hint: fix the number's type before this point: `round(x)`" in out
    assert max(len(line) for line in out.splitlines()) <= 80 and len(out.splitlines()) >= 4


@pytest.mark.parametrize("off, typed", [(0.0, True), (5e-6, True), (3e-5, True), (0.0, False)])
def test_compile_agrees_with_verify_on_borderline_numbers(monkeypatch, off, typed):
    """A model output off by 5e-6 (on values up to 1) is within the compiler's one equality rule
    (what `rasp verify` uses) but was outside the REPL's own old tolerance; an int given as a
    float (`typed` False) is not the interpreter's output for either: `:compile` says
    "matches" exactly when verify counts no mismatch."""
    pytest.importorskip("compiler")
    from compiler import program, verify

    session = ReplSession(interactive=True)
    session.run_text('set example "xaxb"')
    session.run_text('frac = aggregate(select(indices, indices, <=), indicator(tokens == "x"));')
    want = session.env.evaluate("frac", "xaxb")
    monkeypatch.setattr(
        program.CompiledProgram,
        "run_batch",
        lambda self, inputs: [
            [v + off if isinstance(v, float) or not typed else v for v in want] for _ in inputs
        ],
    )
    out = text_of(session.run_text(":compile frac"))
    prog = program.compile(session.env, "frac", vocab=["a", "b", "x"], max_len=4)
    report = verify.verify(prog, session.env.expression("frac"), [list("xaxb")], False)
    matches = "matches the interpreter on the running example" in out
    assert matches == (report.mismatches == 0), (out, report)
    assert matches == (off < 1e-5 and typed)


def test_compile_ticks_while_slow(monkeypatch):
    """A compile over a second keeps a ticking line on the terminal, erased at the end."""
    import io
    import time

    import rasp.repl_compile as rc

    pytest.importorskip("compiler")
    session = ReplSession(interactive=True)
    session.progress = io.StringIO()
    real = rc.compile_expr

    def slow(*args):  # runs until the ticker has shown a line (a loaded machine: later)
        end = time.monotonic() + 60
        while not session.progress.getvalue() and time.monotonic() < end:
            time.sleep(0.05)
        return real(*args)

    monkeypatch.setattr(rc, "compile_expr", slow)
    out = text_of(session.run_text(":compile length"))
    assert "matches the interpreter" in out
    ticks = session.progress.getvalue()
    assert re.match(r"\rcompiling length… \d+ s", ticks) and ticks.endswith("\r\x1b[K")


def test_attn_fits_80_columns_and_cuts_long_examples(monkeypatch):
    pytest.importorskip("compiler")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    session = ReplSession(interactive=True)
    session.run_text("reverse = aggregate(select(indices, length - indices - 1, ==), tokens);")
    session.run_text('set example "hello world!"')
    out = text_of(session.run_text(":attn reverse"))
    assert "RASP selector" in out and "compiled attention" in out
    assert max(len(line.expandtabs()) for line in out.splitlines()) <= 80
    assert "(the first 12 of 12" not in out
    session.run_text('set example "' + "ab" * 100 + '"')
    out = text_of(session.run_text(":attn reverse"))
    assert max(len(line.expandtabs()) for line in out.splitlines()) <= 80
    assert len(out.splitlines()) <= 3 * 22
    assert "of 200 tokens: :cut off shows all)" in out
    assert 'on "abababababababab"…' in out and "ab" * 20 not in out  # the heading cut too
    session.run_text(":cut off")
    out = text_of(session.run_text(":attn reverse"))
    assert len(out.splitlines()) > 200


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


@pytest.mark.parametrize("text", ["help", "help;", "  help ;"])
def test_bare_help_answers_with_the_help(text):
    session = ReplSession(interactive=True)
    assert text_of(session.run_text(text)) == HELP + "\n"
    session.run_text("help = 3;")  # a user's own `help` is theirs
    assert "3" in text_of(session.run_text("help;"))


def test_an_internal_error_does_not_end_the_session(monkeypatch):
    session = ReplSession()

    def broken(statement, path=None):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(session.env, "execute", broken)
    out = body(piped("1;\n", session))
    assert out == ">> something went wrong: boom\n>> \n"
    session.interactive = True
    assert text_of(session.run_text("1;")) == "!! internal error (ZeroDivisionError): boom\n"


def test_interactive_error_inside_an_earlier_function():
    session = ReplSession(interactive=True)
    session.run_text("def f(x) {\n  y = x + nosuch;\n  return y;\n}")
    assert text_of(session.run_text("f(1);")) == (
        "!! error: Undefined variable: nosuch\n   at line 2, column 11 of an earlier input\n"
        "   in f, called from line 1, column 1: f(1)\n"
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


def test_ticker_shows_the_compilers_stage():
    import io
    import time

    from rasp.compiled import ticking

    stream = io.StringIO()
    with ticking(stream, "compiling x…", delay=0.05, interval=0.05) as ticker:
        ticker.update("lower", 3, 10, 0.1)
        end = time.monotonic() + 60  # until it ticked (later on a loaded machine)
        while not stream.getvalue() and time.monotonic() < end:
            time.sleep(0.01)
    shown = stream.getvalue()
    assert re.search(r"\rcompiling x… \d+ s \(lower 3/10\)\x1b\[K", shown)
    assert shown.endswith("\r\x1b[K")
    quiet = io.StringIO()
    with ticking(quiet, "compiling y…", delay=5):
        pass  # a quick compile leaves nothing on the terminal
    assert quiet.getvalue() == ""


def test_an_inner_ticker_takes_the_line_over():
    """The REPL ticks a whole input; a compile inside it ticks its stage, and only that."""
    import io
    import time

    from rasp.compiled import ticking

    stream = io.StringIO()
    end = time.monotonic() + 60
    with ticking(stream, "working…", delay=0.01, interval=0.01):
        while "working…" not in stream.getvalue() and time.monotonic() < end:
            time.sleep(0.01)
        with ticking(stream, "compiling x…", delay=0.01, interval=0.01):
            while "compiling" not in stream.getvalue() and time.monotonic() < end:
                time.sleep(0.01)
            time.sleep(0.1)  # ten of the outer ticker's intervals
            inner = stream.getvalue().split("compiling", 1)[1]
        while stream.getvalue().count("working…") < 2 and time.monotonic() < end:
            time.sleep(0.01)  # the outer one resumes
    assert "working…" not in inner and stream.getvalue().count("working…") >= 2


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


def test_attn_shows_the_selector_of_a_prefix_count(monkeypatch):
    """dyck2's prefix-count heads attend with a selector the compiler built: :attn shows it
    beside (or above) the compiled weights, as it does for aggregates."""
    pytest.importorskip("compiler")
    monkeypatch.chdir(ROOT)
    session = ReplSession(interactive=True)
    session.run_text('load "examples/dyck2";')
    session.run_text('set example "({})"')
    out = text_of(session.run_text(":attn dyck2"))
    heads = out.count("compiled attention (§ = BOS)")
    assert heads >= 3 and out.count("RASP selector ") == heads
    assert "RASP selector select(opens, 1, ==) and upto" in out


def test_help_names_every_meta_command():
    """The help lists what the session answers to: a meta command added later shows up."""
    assert sorted(ReplSession().meta) == sorted(set(re.findall(r"^  :(\w+)", HELP, re.M)))


def test_help_gives_the_compile_options():
    """`:compile` and `:attn` take --vocab and --max-len (else the running example's): the
    help said neither."""
    assert "--vocab a,b,c and --max-len N" in HELP and "the running\n      example's" in HELP
