"""A Pygments lexer for RASP: `pygmentize -l rasp`, Sphinx, Jupyter, `rasp show` and the REPL.

The token classes follow the original's lexer (`RASP.g4`): keywords glued to their parenthesis
(`select(`, `aggregate(`, ...), `s-op` as one keyword, `#` comments to the end of the line, and
the REPL's own commands (`set example`, `full seq display on`, `:help`, ...).
"""

from __future__ import annotations

from functools import cache

from pygments.lexer import RegexLexer, bygroups, words
from pygments.style import Style
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from . import keywords
from .env import Environment

__all__ = ["RaspLexer", "TerminalStyle", "library_names"]

KEYWORDS = keywords.statement_words()
WORD_OPERATORS = keywords.operator_words()
PRIMITIVES = keywords.glued_words()
CONSTANTS = ("True", "False")
BUILTIN_SOPS = ("tokens", "tokens_str", "tokens_int", "tokens_float", "tokens_bool",
                "tokens_asis", "indices")
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
            (r"[ \t\r\n]+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\r\n]*"', String.Double),
            (r"[0-9]+\.[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            # REPL-only input: meta commands at the start of a line, and the original's commands.
            (r"^:\w+", Keyword.Pseudo),  # any of the session's meta commands (:help, :cut, ...)
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
