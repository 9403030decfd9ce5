"""The REPL on a terminal: prompt-toolkit editing around a `ReplSession`.

Enter runs the input once it is a whole statement and opens a new line while it is unfinished
(an open bracket or brace, a missing `;`), with the original's `.. ` continuation prompt. Tab
completes names in scope, library functions, keywords and REPL commands; Up/Down walk the
persistent history; input is highlighted with `RaspLexer`; Ctrl-C drops the pending input and
Ctrl-D leaves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.output import Output as PtOutput
from prompt_toolkit.styles import Style, merge_styles, style_from_pygments_cls

from rasp import ir
from rasp.build import Function
from rasp.compiled import ticking
from rasp.keywords import glued_words, operator_words, statement_words
from rasp.lexer import RaspLexer, TerminalStyle
from rasp.repl import PROMPT, Output, ReplSession, Status, def_depth, parse_input
from rasp.repl_errors import ERROR

# The input's highlighting in the terminal's own colours (readable on dark and light), then
# the REPL's classes.
STYLE = merge_styles(
    [
        style_from_pygments_cls(TerminalStyle),
        Style.from_dict(
            {
                "error": "ansired",
                "note": "italic",
                "prompt": "ansigreen",
                "continuation": "ansigreen",
            }
        ),
    ]
)

REPL_COMMANDS = (
    "set example",
    "show example",
    "examples on",
    "examples off",
    "full seq display on",
    "full seq display off",
    "exit",
    "quit",
    "s-op",
    "selector",
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")
_META = re.compile(r"^\s*:(\w*)$")
_LOAD = re.compile(r'\bload\s*"([^"]*)$')


def path_completions(typed: str, cwd: str = ".") -> Iterator[tuple[str, str]]:
    """What `load "typed` can continue with: folders (ending in /) and .rasp files named
    without their extension, as `load` names them."""
    folder, slash, stem = typed.rpartition("/")
    where = os.path.join(cwd, os.path.expanduser(folder + slash or "."))
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError:
        return
    prefix = typed[: len(typed) - len(stem)]
    for entry in entries:
        if not entry.name.startswith(stem) or (entry.name.startswith(".") and not stem):
            continue
        if entry.is_dir():
            yield prefix + entry.name + "/", "folder"
        elif entry.name.endswith(".rasp"):
            yield prefix + entry.name[: -len(".rasp")], "file"


def _kind(value: object) -> str:
    if isinstance(value, ir.SOp):
        return "s-op"
    if isinstance(value, ir.Selector):
        return "selector"
    if isinstance(value, Function):
        return "function"
    return "value"


class RaspCompleter(Completer):
    """Names in scope (with their kind), library functions, keywords and REPL commands."""

    def __init__(self, session: ReplSession):
        self.session = session

    def candidates(self) -> Iterator[tuple[str, str]]:
        env = self.session.env
        for name, value in sorted(env.names().items()):
            where = "library " if name in env.library_names else ""
            yield name, where + _kind(value)
        for word in (*statement_words(), *operator_words()):
            yield word, "keyword"
        for word in glued_words():
            yield word + "(", "primitive"
        for command in REPL_COMMANDS:
            yield command, "REPL command"

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        meta = _META.search(before)
        if meta is not None:
            for command in sorted(self.session.meta):
                if command.startswith(meta.group(1)):
                    yield Completion(":" + command, -len(meta.group(0).lstrip()))
            return
        load = _LOAD.search(before)
        if load is not None:
            typed = load.group(1)
            for path, kind in path_completions(typed):
                yield Completion(
                    path, -len(typed), display=path.rsplit("/", 1)[-1] or path, display_meta=kind
                )
            return
        word = _WORD.search(before)
        if word is None:
            return
        typed = word.group(0)
        for name, kind in self.candidates():
            if name.startswith(typed) and name != typed:
                yield Completion(name, -len(typed), display_meta=kind)


def _history(path: str) -> History:
    """The history file, or a history in memory when the file cannot be written."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError:
        return InMemoryHistory()
    return FileHistory(path)


class PromptRepl:
    """The terminal REPL. `input`, `output` and `sink` (where results go) are for tests."""

    tick_after = 2.0  # seconds an input runs before a line says it is still working

    def __init__(
        self,
        session: ReplSession,
        history_path: str,
        input: Input | None = None,
        output: PtOutput | None = None,
        sink: Callable[[Output], None] | None = None,
    ):
        self.session = session
        self.sink = sink or self._print
        self.prompt_session: PromptSession[str] = PromptSession(
            message=[("class:prompt", PROMPT)],
            multiline=True,
            prompt_continuation=self._continuation,
            key_bindings=self._key_bindings(),
            history=_history(history_path),
            lexer=PygmentsLexer(RaspLexer),
            completer=RaspCompleter(session),
            complete_while_typing=False,
            style=STYLE,
            include_default_pygments_style=False,
            input=input,
            output=output,
        )

    def _print(self, out: Output) -> None:
        print_formatted_text(FormattedText(out), style=STYLE, end="")

    def _continuation(self, width: int, line_number: int, wrap_count: int) -> FormattedText:
        lines = self.prompt_session.default_buffer.document.lines[:line_number]
        return FormattedText([("class:continuation", ".. " + "  " * def_depth(" ".join(lines)))])

    def wants_more(self, text: str) -> bool:
        """Whether Enter should open a new line rather than run the input."""
        stripped = text.strip()
        if not stripped or stripped.startswith(":") or self.session.is_help(text):
            return False
        return parse_input(text).status is Status.INCOMPLETE

    def _key_bindings(self) -> KeyBindings:
        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            state = buffer.complete_state
            if state is not None and state.current_completion is not None:
                buffer.apply_completion(state.current_completion)
            elif self.wants_more(buffer.text):
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()

        return bindings

    def run(self) -> None:
        self.sink(
            [("", self.session.banner()), ("", "(:help for help, Tab completes, Ctrl-D leaves)\n")]
        )
        while not self.session.finished:
            try:
                text = self.prompt_session.prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C: the pending input is dropped, the session goes on
            except EOFError:
                break
            try:
                with ticking(self.session.progress, "working…", delay=self.tick_after):
                    out = self.session.run_text(text)
                self.sink(out)
            except KeyboardInterrupt:
                self.sink([(ERROR, "!! interrupted\n")])
