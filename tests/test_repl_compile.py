"""The REPL's `:compile` and `:attn`: the compiled model's summary and its check against the
interpreter, refusals and usage hints at 80 columns, the attention shown beside the RASP
selector, and the ticking line while a compile is slow."""

import re
from pathlib import Path

import pytest

from rasp.repl import ReplSession, text_of

ROOT = Path(__file__).parent.parent


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


# ---- attention ---------------------------------------------------------------------------------


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
