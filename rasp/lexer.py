"""A Pygments lexer for RASP: `pygmentize -l rasp`, Sphinx, Jupyter, `rasp show` and the REPL.

The token classes follow the original's lexer (`RASP.g4`): keywords glued to their parenthesis
(`select(`, `aggregate(`, ...), `s-op` as one keyword, `#` comments to the end of the line, and
the REPL's own commands (`set example`, `full seq display on`, `:help`, ...).

A text that starts with the REPL's prompt (`>> `) is a session, as the docs show them: what
follows a prompt (`>> `, `.. `) is RASP, every other line is the REPL's output (an error from
its `!!` line on), so the words the REPL prints (`s-op: out`, `Example:`) are not coloured
as code.
"""

from __future__ import annotations

from functools import cache

from pygments.lexer import RegexLexer, bygroups, default, include, words
from pygments.style import Style
from pygments.token import (
    Comment,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from rasp import keywords
from rasp.env import Environment

__all__ = ["RaspLexer", "TerminalStyle", "library_names"]

KEYWORDS = keywords.statement_words()
WORD_OPERATORS = keywords.operator_words()
PRIMITIVES = keywords.glued_words()
CONSTANTS = ("True", "False")
BUILTIN_SOPS = (
    "tokens",
    "tokens_str",
    "tokens_int",
    "tokens_float",
    "tokens_bool",
    "tokens_asis",
    "indices",
)
REPL_WORDS = keywords.repl_words()


@cache
def library_names() -> tuple[str, ...]:
    """The names the standard library defines at top level (they are reserved, like builtins):
    the environment's own list, found by running the library."""
    return tuple(sorted(Environment().library_names - set(BUILTIN_SOPS)))


class RaspLexer(RegexLexer):
    """RASP source and REPL input (Weiss, Goldberg & Yahav 2021)."""

    name = "RASP"
    aliases = ["rasp"]
    filenames = ["*.rasp"]
    mimetypes = ["text/x-rasp"]
    url = "https://github.com/tech-srl/RASP"

    tokens = {
        "root": [
            (r"(?=>>( |$))", Whitespace, "session"),  # only a session starts so
            (r"[ \t\r\n]+", Whitespace),
            (r"^:\w+", Keyword.Pseudo),  # any of the session's meta commands (:help, :cut, ...)
            include("code"),
        ],
        "code": [
            (r"#.*?$", Comment.Single),
            (r'"[^"\r\n]*"', String.Double),
            (r"[0-9]+\.[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            # REPL-only input: the original's commands.
            (r"full[ \t]+seq[ \t]+display\b", Keyword.Pseudo),
            (r"(exit|quit)(\(\))", bygroups(Keyword.Pseudo, Punctuation)),
            (r"s-op\b", Keyword.Pseudo),
            (words(REPL_WORDS, suffix=r"\b"), Keyword.Pseudo),
            # The original's lexer glues these to their parenthesis.
            (words(PRIMITIVES, suffix=r"(\()"), bygroups(Name.Builtin, Punctuation)),
            (r"(def)([ \t\r\n]+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Function)),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(BUILTIN_SOPS, suffix=r"\b"), Name.Builtin),
            (words(library_names(), suffix=r"\b"), Name.Builtin),
            (r"[A-Za-z_]\w*", Name),
            (r"==|!=|<=|>=|[<>=+\-*/%^]", Operator),
            (r"[()\[\]{},;:]", Punctuation),
        ],
        "session": [
            (r"^(>>|\.\.)([ \t]*)", bygroups(Generic.Prompt, Whitespace), "input"),
            (r"^[ \t]*!!.*\n?", Generic.Error, "error"),
            (r".+\n?|\n", Generic.Output),
        ],
        "input": [  # the rest of a line after a prompt: RASP, or a meta command
            (r"\n", Whitespace, "#pop"),
            (r"[ \t\r]+", Whitespace),
            (r"(?<=>> ):\w+", Keyword.Pseudo),
            include("code"),
        ],
        "error": [  # an error's indented lines: where, the line, the caret
            (r"^[ \t]+.*\n?", Generic.Error),
            default("#pop"),
        ],
    }


class TerminalStyle(Style):
    """Colours for terminals, dark or light: only the 8 ANSI colour names (no blue, whose
    usual shade is unreadable on black) plus bold and italic, so the terminal's own palette,
    made for its background, decides the shades. Used by `rasp show` and the REPL."""

    name = "rasp-terminal"
    styles = {
        Comment: "italic",
        Keyword: "bold ansimagenta",
        Keyword.Pseudo: "ansimagenta",
        Keyword.Constant: "ansimagenta",
        Operator.Word: "bold ansimagenta",
        Name.Builtin: "ansicyan",
        Name.Function: "bold",
        String: "ansigreen",
        Number: "ansired",
    }
