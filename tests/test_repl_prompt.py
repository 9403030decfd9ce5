"""The terminal REPL: completion, history, multi-line input, Ctrl-C and Ctrl-D.

The prompt-toolkit tests type into a pipe input from a second thread and wait for each key's
effect (the buffer's text, or a result reaching the sink) before the next, so they do not
depend on timing. One test drives the real `rasp` REPL in a pseudo-terminal with pexpect.
"""

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from rasp.repl import ReplSession, text_of
from rasp.repl_prompt import PromptRepl, RaspCompleter

ROOT = Path(__file__).parent.parent
UP, CTRL_C, CTRL_D = "\x1b[A", "\x03", "\x04"


def _wait(condition, what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def drive(tmp_path, steps, session: ReplSession | None = None):
    """Run the REPL on a pipe; `steps` are (keys, condition on (buffer text, outputs))."""
    outputs: list[str] = []
    failures: list[BaseException] = []
    with create_pipe_input() as pipe:
        repl = PromptRepl(
            session or ReplSession(interactive=True),
            str(tmp_path / "history"),
            input=pipe,
            output=DummyOutput(),
            sink=lambda out: outputs.append(text_of(out)),
        )

        def typist():
            try:
                for keys, condition in steps:
                    pipe.send_text(keys)
                    _wait(
                        lambda c=condition: c(repl.prompt_session.default_buffer.text, outputs),
                        repr(keys),
                    )
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)
            pipe.send_text(CTRL_D * 3)

        thread = threading.Thread(target=typist, daemon=True)
        thread.start()
        repl.run()
        thread.join(10)
    if failures:
        raise failures[0]
    return outputs, repl


def results(n):
    return lambda text, outputs: len(outputs) == n + 1  # the banner is output 0


def buffer_is(expected):
    return lambda text, outputs: text == expected


def test_completion_history_multiline_ctrl_c_and_errors(tmp_path):
    outputs, repl = drive(
        tmp_path,
        [
            ("n = 41;\r", results(1)),
            # Tab completes a library name.
            ("selector_wi", buffer_is("selector_wi")),
            ("\t", buffer_is("selector_width")),
            ("(select(tokens, tokens, ==));\r", results(2)),
            # The up arrow recalls the last input; Enter runs it again.
            (UP, buffer_is("selector_width(select(tokens, tokens, ==));")),
            ("\r", results(3)),
            # Enter inside an unfinished def opens a new line instead of running it.
            ("def f(a) {\r", buffer_is("def f(a) {\n")),
            ("  return a + 1;\r", buffer_is("def f(a) {\n  return a + 1;\n")),
            ("}\r", results(4)),
            # Ctrl-C drops the pending input; the session goes on.
            ("x = [1,\r", buffer_is("x = [1,\n")),
            (CTRL_C, buffer_is("")),
            # An error skips the statement and keeps what was defined before it.
            ("f(n) + nosuch;\r", results(5)),
            ("f(n);\r", results(6)),
        ],
    )
    assert outputs[0].startswith("RASP 0.1\nrunning example is: hello\n")
    assert outputs[1] == "    value: n =  41\n"
    assert (
        outputs[2]
        == outputs[3]
        == ('     s-op: out\n \t Example: out("hello") = [1, 1, 2, 2, 1] (ints)\n')
    )
    assert outputs[4] == "     console function: f(a)\n"
    assert outputs[5].startswith("!! error: Undefined variable: nosuch\n   at column 8\n")
    assert outputs[6] == "    value: out =  42\n"
    assert "x" not in repl.session.env.names()
    history = (tmp_path / "history").read_text()
    assert "+n = 41;" in history and "+def f(a) {\n+  return a + 1;\n+}" in history


def test_history_persists_between_sessions(tmp_path):
    drive(tmp_path, [("m = 7;\r", results(1))])
    outputs, _ = drive(tmp_path, [(UP, buffer_is("m = 7;")), ("\r", results(1))])
    assert outputs[1] == "    value: m =  7\n"


def test_exit_command_ends_the_session(tmp_path):
    _outputs, repl = drive(tmp_path, [("exit\r", lambda text, outputs: True)])
    assert repl.session.finished


def test_completer_offers_names_keywords_and_commands():
    session = ReplSession(interactive=True)
    session.run_text("my_sop = indices + 1;")
    completer = RaspCompleter(session)

    def complete(text):
        return {
            c.text: c.display_meta_text
            for c in completer.get_completions(
                Document(text), CompleteEvent(completion_requested=True)
            )
        }

    assert complete("my_") == {"my_sop": "s-op"}
    assert complete("selector_wi") == {"selector_width": "library function"}
    assert complete("aggre") == {"aggregate(": "primitive"}
    assert "indicator" in complete("ind") and "indices" in complete("ind")
    assert complete("full") == {
        "full_s": "library selector",
        "full seq display on": "REPL command",
        "full seq display off": "REPL command",
    }
    assert set(complete(":c")) == {":compile", ":cut"}
    assert complete("1 + ") == {}


def test_real_terminal(tmp_path):
    """`rasp` in a pseudo-terminal: banner, an echo, an error, a multi-line def, Ctrl-D."""
    pexpect = pytest.importorskip("pexpect")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASP_HISTORY": str(tmp_path / "h"),
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "rasp.cli"],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
        dimensions=(24, 100),
    )
    try:
        child.expect("running example is: hello")
        child.expect(">> ")
        child.send("x = indices + 1;\r")
        child.expect(r'x\("hello"\) = \[1, 2, 3, 4, 5\] \(ints\)')
        child.send("nosuch;\r")
        child.expect("Undefined variable: nosuch")
        child.send("def g(a) {\r")
        child.expect(r"\.\.   ")
        child.send("return a;\r}\r")
        child.expect("console function: g\\(a\\)")
        child.send(CTRL_D)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "x = indices + 1;" in (tmp_path / "h").read_text()


def test_input_highlighting_uses_the_terminals_colours():
    """Function names were #0000ff (invisible on black): every colour of the input's
    highlighting is one of the terminal's named colours."""
    from prompt_toolkit.styles import DEFAULT_ATTRS

    from rasp.repl_prompt import STYLE

    for cls in (
        "pygments.name.function",
        "pygments.name.builtin",
        "pygments.keyword",
        "pygments.literal.string",
        "pygments.literal.number",
        "pygments.comment",
    ):
        attrs = STYLE.get_attrs_for_style_str(f"class:{cls}", DEFAULT_ATTRS)
        assert attrs.color in ("", None) or attrs.color.startswith("ansi"), (cls, attrs.color)
        assert attrs.color not in ("ansiblue", "ansiblack", "ansiwhite", "ansiyellow")


def test_a_slow_input_says_it_is_working(tmp_path, monkeypatch):
    """A statement on a long running example ran 16 s (sort of 6,000 tokens), a load 50 s,
    with nothing on the screen: past `tick_after` a line says so, erased before the result."""
    import io

    session = ReplSession(interactive=True)
    session.progress = io.StringIO()
    run = session.env.execute

    def slow(statement):
        end = time.monotonic() + 60  # until it ticked (later on a loaded machine)
        while not session.progress.getvalue() and time.monotonic() < end:
            time.sleep(0.01)
        return run(statement)

    monkeypatch.setattr(session.env, "execute", slow)
    monkeypatch.setattr(PromptRepl, "tick_after", 0.05)
    outputs, _ = drive(tmp_path, [("x = 1;\r", results(1))], session)
    assert "value: x =  1" in outputs[1]
    ticks = session.progress.getvalue()
    assert ticks.startswith("\rworking… 0 s\x1b[K") and ticks.endswith("\r\x1b[K")
