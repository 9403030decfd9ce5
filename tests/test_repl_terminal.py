"""The real `rasp` REPL in an 80x24 pseudo-terminal, typed into as a user would (pexpect).

Each test reproduces a finding of a new user's session: `help` without the colon, Tab after
`load "`, `:compile`/`:attn` of a function, `:attn` and a long running example at 80 columns.
"""

import os
import re
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).parent.parent
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[=>])")
TAB = "\t"


@pytest.fixture
def repl(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASP_HISTORY": str(tmp_path / "h"),
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm",
        "COLUMNS": "80",
        "LINES": "24",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "rasp.cli"],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=60,
        dimensions=(24, 80),
    )
    child.expect("running example is: hello")
    child.expect(">> ")
    yield child
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()


def screen_text(child, text: str, timeout: float = 60) -> str:
    """Read until `text` shows (highlighting escapes removed); what was read before it."""
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in ANSI.sub("", seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not shown; got {ANSI.sub('', seen)[-300:]!r}")
        try:
            seen += child.read_nonblocking(4096, timeout=1)
        except pexpect.TIMEOUT:
            pass
    plain = ANSI.sub("", seen)
    return plain[: plain.index(text)]


def answer(child, keys: str) -> list[str]:
    """Type `keys` and Enter; the lines printed before the next prompt, escapes removed."""
    child.send(keys + "\r")
    before = screen_text(child, "\n>> ")
    return [line.rstrip("\r").split("\r")[-1] for line in before.split("\n")]  # \r: overwritten


def test_help_without_the_colon(repl):
    for typed in ("help", "help;"):
        lines = answer(repl, typed)
        assert any(line.startswith("Statements end with ';'") for line in lines), lines
        assert not any("Undefined variable" in line for line in lines)


def test_tab_after_load_completes_file_names(repl):
    repl.send('load "exa' + TAB)
    screen_text(repl, "examples/")
    repl.send("rever" + TAB)
    screen_text(repl, "reverse")
    lines = answer(repl, '";')
    assert any("reverse" in line for line in lines), lines
    assert not any("error" in line for line in lines), lines


@pytest.mark.parametrize("command", ["compile", "attn"])
def test_compile_of_a_function_is_one_line(repl, command):
    pytest.importorskip("compiler")
    lines = [x for x in answer(repl, f":{command} sort") if x.strip()]
    assert len(lines) == 2, lines  # the echo of the input, then one line of 80 columns at most
    assert len(lines[1]) <= 80
    assert f":{command} sort(tokens, tokens)" in "".join(lines)


def test_attn_and_long_examples_fit_80_columns(repl):
    pytest.importorskip("compiler")
    answer(repl, "reverse = aggregate(select(indices, length - indices - 1, ==), tokens);")
    answer(repl, 'set example "hello world!"')
    lines = answer(repl, ":attn reverse")
    assert any("compiled attention" in line for line in lines), lines
    assert max(len(line) for line in lines[1:]) <= 80, lines
    answer(repl, 'set example "' + "ab" * 100 + '"')
    lines = answer(repl, "sel = select(indices, indices, <);")
    assert len(lines) <= 26 and max(len(line) for line in lines[1:]) <= 80, lines
    assert "(181 more lines, 20 lines cut at 80 columns: :cut off shows all)" in lines
