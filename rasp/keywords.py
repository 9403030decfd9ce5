"""The language's reserved words, read from its grammar (grammar.lark), the one place they
are written: the lexer, the REPL's completion, its ANTLR-worded errors and its help use
these lists, so a keyword added to the grammar reaches them all.

The grammar names each keyword's terminal; the groups below say which terminals are
operators and which are the REPL's commands (every other keyword is a statement word).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

OPERATOR_TERMINALS = frozenset({"NOT", "AND", "OR", "ROUND", "INDICATOR"})
REPL_TERMINALS = frozenset(
    {"SET", "SHOW", "EXAMPLE", "EXAMPLES", "ON", "OFF", "EXIT", "QUIT", "SELECTOR_KW"}
)

# `NAME: "word"` (a keyword) and `NAME_OPEN.3: "word("` (a keyword glued to its parenthesis).
_TERMINAL = re.compile(r'^([A-Z_]+)(?:\.\d+)?:\s*"([a-z_]+)(\(?)"\s*$', re.MULTILINE)


@cache
def _terminals() -> tuple[tuple[str, str, bool], ...]:
    """(terminal, word, glued to `(`) for every keyword terminal, in grammar order."""
    text = resources.files("rasp").joinpath("grammar.lark").read_text(encoding="utf-8")
    return tuple((name, word, bool(paren)) for name, word, paren in _TERMINAL.findall(text))


def _words(keep) -> tuple[str, ...]:
    return tuple(word for name, word, glued in _terminals() if not glued and keep(name))


def statement_words() -> tuple[str, ...]:
    """`def`, `return`, `for`, `in`, `if`, `else`, `load`, `draw`."""
    return _words(lambda n: n not in OPERATOR_TERMINALS | REPL_TERMINALS)


def operator_words() -> tuple[str, ...]:
    """`not`, `and`, `or`, `round`, `indicator`."""
    return _words(lambda n: n in OPERATOR_TERMINALS)


def repl_words() -> tuple[str, ...]:
    """The REPL's commands: `set`, `show`, `example`, `examples`, `on`, `off`, `exit`, ..."""
    return _words(lambda n: n in REPL_TERMINALS)


def glued_words() -> tuple[str, ...]:
    """Written with their parenthesis, as one token: `select(`, `aggregate(`, `range(`, ..."""
    return tuple(word for _name, word, glued in _terminals() if glued)


def all_words() -> frozenset[str]:
    """Every unglued keyword."""
    return frozenset(word for _name, word, glued in _terminals() if not glued)
