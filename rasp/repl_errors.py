"""How the REPL reports a statement that failed: the original's lines, or located messages.

Piped sessions print exactly what the original printed for each kind of error (its three
forms: `!!ignoring input`, `something went wrong`, `antlr exception`); the terminal REPL
prints raspc's message instead, with where it happened and the line with a caret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rasp.errors import RaspError, RaspNameError, RaspSyntaxError, caret_under
from rasp.repl_antlr import antlr_message
from rasp.repl_fit import Output
from rasp.repl_input import Status, offset, parse_input
from rasp.source import read_source

ERROR = "class:error"  # the prompt-toolkit style of error text


@dataclass(frozen=True)
class ErrorStyle:
    """The error lines of a session: the original's when not `interactive`."""

    interactive: bool

    def error(self, err: RaspError, text: str) -> Output:
        """A statement failed: the original's line for its kind, or the located message."""
        if self.interactive:
            return self.located(err, text)
        if err.kind == "syntax":
            return self.syntax_error(err, text)
        if err.kind == "python":
            return [(ERROR, f"something went wrong: {err.message}\n")]
        if err.kind == "notimpl":
            return [(ERROR, "not implemented this command yet! ignoring\n")]
        prefix = "Error: " if _is_name_error(err) else ""
        return [(ERROR, f"\t\t!!ignoring input:\n\t {prefix}{err.message}\n")]

    def echo_error(self, err: RaspError) -> Output:
        """The statement ran, but showing its result on the running example failed."""
        if self.interactive:
            return [(ERROR, f"!! the statement ran, but its example fails: {err.message}\n")]
        if err.kind == "python":
            return [(ERROR, f"something went wrong: {err.message}\n")]
        return [
            (
                ERROR,
                f"\t!!statement executed, but result fails on evaluation:\n\t\t {err.message}\n",
            )
        ]

    def internal_error(self, exc: Exception) -> Output:
        """An exception that is not a RaspError: a bug in raspc, reported like the original
        reports any exception, so that the session survives it."""
        if self.interactive:
            return [(ERROR, f"!! internal error ({type(exc).__name__}): {exc}\n")]
        return [(ERROR, f"something went wrong: {exc}\n")]

    def syntax_error(self, err: RaspError, text: str) -> Output:
        if self.interactive:
            return self.located(err, text)
        if err.path is not None and isinstance(err, RaspSyntaxError):  # in a loaded file
            message = _loaded_message(err)
        elif isinstance(err, RaspSyntaxError):
            message = antlr_message(err, text)
        else:
            message = err.message
        return [(ERROR, f"\t!! antlr exception: {message} \t-- ignoring input\n")]

    def located(self, err: RaspError, text: str) -> Output:
        """`!! message`, where it happened, and the offending line with a caret."""
        kind = "syntax error" if err.kind == "syntax" else "error"
        lines = [f"!! {kind}: {err.message}"]
        if err.path is not None:
            lines.append(f"   at {err.where()}")
            source = err.source_line
        elif err.line is not None:
            source_lines = text.split("\n")
            source = source_lines[err.line - 1] if err.line <= len(source_lines) else None
            if source is not None and (err.column or 1) > len(source.rstrip()) + 1:
                source = None
            if source is None:  # past this input: inside a function defined earlier
                lines.append(f"   at line {err.line}, column {err.column} of an earlier input")
            elif len([x for x in source_lines if x.strip()]) > 1:
                lines.append(f"   at line {err.line}, column {err.column}")
            else:
                lines.append(f"   at column {err.column}")
        else:
            source = None
        if source is not None and err.column is not None:
            lines.append(f"   {source.rstrip()}")
            lines.append("   " + caret_under(source, err.column))
        lines += [f"   {note}" for note in err.notes]  # e.g. where a library function was called
        return [(ERROR, "\n".join(lines) + "\n")]


def _loaded_message(err: RaspSyntaxError) -> str:
    """ANTLR's words for an error in the file `err` names; raspc's own if it cannot be read
    again (it changed or went away since)."""
    try:
        text = read_source(err.path or "")
    except RaspError:
        return str(err)
    return antlr_in_file(err, text)


def _pending_around(text: str, at: int) -> tuple[int, int]:
    """The span of a loaded file's `text` that the original's reader held when it met the
    error at offset `at`: whole lines, from the first that no statement before took up to
    the line of the error (it reads line by line until the text parses or cannot)."""
    start = end = 0
    for line in text.splitlines(keepends=True):
        end += len(line)
        if end > at:
            break
        if parse_input(text[start:end]).status is not Status.INCOMPLETE:
            start = end  # a statement (or an error) ends with this line
    return start, end


def antlr_in_file(err: RaspSyntaxError, text: str) -> str:
    """The original's message for a syntax error in a loaded file whose `text` is given: the
    statement around the error worded as a typed one (ANTLR's words depend on it alone)."""
    at = offset(text, err.line, err.column)
    if at is None:
        return antlr_message(err, text)
    named = re.match(r"unexpected (?:character )?('[^']*'|\"[^\"]*\")", err.message)
    if named and not text.startswith(named.group(1)[1:-1], at):
        at -= text.startswith(named.group(1)[1:-1], at - 1)  # a line the reader joined on
    start, end = _pending_around(text, at)
    before = text[start:at]
    column = len(before) - before.rfind("\n")
    shifted = RaspSyntaxError(err.message, before.count("\n") + 1, column)
    return antlr_message(shifted, text[start:end])


def _is_name_error(err: RaspError) -> bool:
    """The original's UndefinedVariable and ReservedName say `Error: ` first."""
    return isinstance(err, RaspNameError) and err.message.startswith(
        ("Undefined variable", "Cannot set reserved name")
    )
