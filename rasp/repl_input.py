"""What a REPL input is: one statement, an unfinished one, several, or a syntax error.

The original reads on while its parser fails at the end of the input; raspc asks its own
parser the same question. Both front ends (piped and terminal) use this to join lines. The
input's tokens as the original's ANTLR lexer splits it (`tokenize`) serve the piped REPL's
ANTLR-worded errors and joins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from rasp import ast, keywords
from rasp.errors import RaspSyntaxError
from rasp.parser import parse_program, parse_statement


class Status(Enum):
    """What a (possibly partial) input is, for line joining and for the Enter key."""

    COMPLETE = "complete"  # exactly one statement
    INCOMPLETE = "incomplete"  # could still become a statement: read on
    MULTIPLE = "multiple"  # more than one statement
    ERROR = "error"  # can never parse


@dataclass
class Parsed:
    """An input's status, its statements when it parses, its error when it does not."""

    status: Status
    statements: list[ast.Node] = field(default_factory=list)
    error: RaspSyntaxError | None = None


def parse_input(text: str) -> Parsed:
    """Classify input as the original's reader does: it reads on while the parser fails at the
    end of the input (or inside a comment, which runs to the end of a joined line)."""
    try:
        return Parsed(Status.COMPLETE, [parse_statement(text)])
    except RaspSyntaxError:
        pass
    try:
        statements = parse_program(text)
    except RaspSyntaxError as err:
        if _at_end(err, text):
            return Parsed(Status.INCOMPLETE, error=err)
        return Parsed(Status.ERROR, error=err)
    if not statements:
        return Parsed(Status.INCOMPLETE)
    return Parsed(Status.MULTIPLE, statements)


def offset(text: str, line: int | None, column: int | None) -> int | None:
    """The character offset of a 1-based line and column in `text`."""
    if line is None or column is None:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


def _at_end(err: RaspSyntaxError, text: str) -> bool:
    if err.message.startswith("unexpected end of input"):
        return True
    at = offset(text, err.line, err.column)
    return at is not None and text[at : at + 1] == "#"


# ANTLR's tokens, as the original's lexer splits an input (rasp.repl_antlr, rasp.repl_joins).
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<Comment>\#[^\r\n]*)
  | (?P<String>"[^"\r\n]*")
  | (?P<Float>[0-9]+\.[0-9]+)
  | (?P<PosInt>[0-9]+)
  | (?P<glued>(?:GLUED)\(|exit\(\)|quit\(\)|full\ seq\ display|s-op)
  | (?P<word>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>==|!=|<=|>=|[<>=+\-*/%^()\[\]{},;:])
""".replace("GLUED", "|".join(keywords.glued_words())),
    re.VERBOSE,
)

KEYWORDS = keywords.all_words()


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    kind: str  # a literal's own text, or Float, PosInt, String, Comment, ID, <EOF>
    text: str


def tokenize(text: str) -> tuple[list[Token], int | None]:
    """ANTLR's tokens for `text` (as the original's lexer splits it), and the offset of the
    first character no token starts with (None if there is none)."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return tokens, pos
        group, value = m.lastgroup, m.group(0)
        if group == "word":
            group = value if value in KEYWORDS else "ID"
        elif group in ("glued", "op"):
            group = value
        if group != "ws":
            tokens.append(Token(pos, m.end(), group, value))
        pos = m.end()
    return tokens, None
