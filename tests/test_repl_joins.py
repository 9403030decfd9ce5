"""Line joining in piped sessions, against the original's reader (tests/data/
original_line_joins.json): where raspc's parser finds an input unfinished, the original
either reads the next line or refuses the input with an ANTLR error; raspc does the same."""

import io
import json
from pathlib import Path

import pytest

from rasp.repl import ReplSession, run_piped
from rasp.repl_input import Status, parse_input
from rasp.repl_joins import stop_message

DATA = json.loads((Path(__file__).parent / "data" / "original_line_joins.json").read_text())


def test_every_unfinished_input_is_read_on_or_refused_as_the_original_does():
    wrong = []
    for text, verdict in DATA["cases"].items():
        assert parse_input(text).status is Status.INCOMPLETE, text
        message = stop_message(text)
        ours = "incomplete" if message is None else f"error: {message}"
        if ours != verdict:
            wrong.append((text, verdict, ours))
    assert not wrong, wrong[:5]
    refused = sum(v.startswith("error") for v in DATA["cases"].values())
    assert 300 < refused < len(DATA["cases"])  # both outcomes are well represented


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = (1 +", "missing ')' at '+'"),  # ANTLR ends `1` before an operator that could
        ("x = 1 +", None),  # start a new statement; `missing ';'` is the original's cue to read on
        ("x = (1 + 2", None),  # the operand after `+` is complete: ANTLR goes on
        ("x = (f(a +", "missing ')' at '('"),
        ("x = (f(a) +", "missing ')' at '+'"),
        ("def f(a) {   return a -", "mismatched input '-' expecting ';'"),
        ("x = select(a, b +", "mismatched input '+' expecting ','"),
        ("x = [(a +", None),  # a list or a comprehension? ANTLR cannot tell before the end
        ("x = [1, (a +", "missing ')' at '+'"),
        ("set example f(a[", "missing ')' at '['"),  # f ends the command: `(a[` is a statement
    ],
)
def test_hand_built_inputs(text, message):
    assert stop_message(text) == message


def test_a_piped_session_joins_and_refuses_lines_as_the_original():
    out = io.StringIO()
    run_piped(io.StringIO(DATA["session"]["stdin"]), out)
    assert out.getvalue() == DATA["session"]["stdout"]


def test_the_terminal_repl_reads_on_where_the_original_refuses():
    """At a terminal an unfinished line is just a line: `x = (1 +` goes on to the next."""
    session = ReplSession(interactive=True)
    shown = "".join(text for _style, text in session.run_text("x = (1 +\n2);"))
    assert shown == "    value: x =  3\n"
