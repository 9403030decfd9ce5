"""When the original's REPL stops reading on: an unfinished input it refuses instead of joining.

The original joins lines while its ANTLR parser fails at the end of the input (or says
`missing ';'`). raspc's parser reads on in the same places but one: after a binary `+` or `-`
(or a call's `(`, an index's `[`) ANTLR cannot choose between continuing the expression and
ending it (the token could also start a new statement), so when the input ends there it ends
the expression, and then fails at that token unless a `;` would fit before it:

    x = (1 +     missing ')' at '+'           (raspc would read on)
    x = 1 +      missing ';' at '+'           the original reads on, as raspc

`stop_message` replays that reading on raspc's tokens: it finds the first choice ANTLR could
not make before the end, and words the error ANTLR reports there. An undecided list or dict
(`[a` could still become a comprehension) is a choice made first, at its bracket, and it
reads on. The cases and the original's answers are in tests/data/original_line_joins.json.
The terminal REPL keeps reading on: there, an unfinished line is just a line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rasp.repl_input import Token, tokenize

_OPENERS = frozenset(("(", "[", "{", "select(", "aggregate(", "range(", "zip(", "len("))
_CLOSERS = frozenset((")", "]", "}"))
_OPERANDS = frozenset(("ID", "PosInt", "Float", "String", "]"))
_EXPRESSION_FRAMES = frozenset(
    (
        "group",
        "call",
        "round",
        "select(",
        "aggregate(",
        "range(",
        "zip(",
        "len(",
        "index",
        "list",
        "dict",
    )
)
_BOTH = "{',', ')'}"  # an optional `, x` before `)` in the same rule: ANTLR lists both


@dataclass
class _Frame:
    """An open bracket (or the top level, or a body in braces) and where in it the input is."""

    kind: str  # 'top' 'body' 'params' 'draw' or one of _EXPRESSION_FRAMES
    commas: int = 0
    comprehension: bool = False  # a `for` inside a list or dict
    in_value: bool = False  # a dict's value (a `:` since the last `,`)
    statement: str = "plain"  # top, bodies: 'plain' 'return' 'def' 'set' 'for' (till its body)
    ifs: int = 0  # `if`s still waiting for their `else`


def stop_message(text: str) -> str | None:
    """The original's syntax error for an input raspc finds unfinished, or None where the
    original reads on too."""
    tokens, bad_char = tokenize(text)
    if bad_char is not None:
        return None
    return _stop([t for t in tokens if t.kind != "Comment"])


def _stop(tokens: list[Token]) -> str | None:
    stack = [_Frame("top")]
    operand_ends: set[int] = set()  # token indices that end an operand
    for i, t in enumerate(tokens):
        after_operand = i - 1 in operand_ends
        if t.kind in ("+", "-", "(", "[") and after_operand and _ends_expression(tokens, i):
            frame = stack[-1]
            if frame.statement == "set" and not frame.ifs:  # `set example x` needs no `;`:
                return _stop(tokens[i:])  # the token starts the next statement
            return _message(frame, t)
        opened = _opened(tokens, i, after_operand, stack[-1]) if t.kind in _OPENERS else None
        if opened in ("list", "dict") and _undecided(tokens, i):
            return None  # a literal or a comprehension? ANTLR reads to the end: it reads on
        _step(stack, t, opened, operand_ends, i)
    return None


def _step(
    stack: list[_Frame], t: Token, opened: str | None, operand_ends: set[int], i: int
) -> None:
    frame = stack[-1]
    if t.kind in _OPERANDS and frame.statement != "def":  # `def f(`: f names, it is no value
        operand_ends.add(i)
    if opened is not None:
        stack.append(_Frame(opened))
        if opened == "body":
            frame.statement = "plain"
    elif t.kind in _CLOSERS and len(stack) > 1:
        if stack.pop().kind in _EXPRESSION_FRAMES:
            operand_ends.add(i)
    elif t.kind == ",":
        frame.commas += 1
        frame.in_value = False
    elif t.kind == ":":
        frame.in_value = True
    elif t.kind == "for":
        if frame.kind in ("list", "dict"):
            frame.comprehension = True
        else:
            frame.statement = "for"
    elif t.kind == "if":
        frame.ifs += 1
    elif t.kind == "else":
        frame.ifs = max(0, frame.ifs - 1)
    elif t.kind == ";":
        frame.statement, frame.ifs = "plain", 0
    elif t.kind in ("return", "def", "set"):
        frame.statement = t.kind


def _opened(tokens: list[Token], i: int, after_operand: bool, frame: _Frame) -> str:
    """What the bracket at i opens."""
    kind = tokens[i].kind
    prev = tokens[i - 1].kind if i else ""
    if kind == "(":
        if prev in ("round", "indicator"):
            return "round"
        if prev == "draw":
            return "draw"
        if i > 1 and tokens[i - 2].kind == "def":
            return "params"
        return "call" if after_operand else "group"
    if kind == "[":
        return "index" if after_operand else "list"
    if kind == "{":
        body = prev == ")" and not after_operand or frame.statement == "for" and after_operand
        return "body" if body else "dict"
    return kind  # select( aggregate( range( zip( len(


def _ends_expression(tokens: list[Token], i: int) -> bool:
    """Whether ANTLR ends the expression before token i (a binary `+`/`-`, a call's `(`, an
    index's `[`) because its prediction meets the end undecided: the tokens from i on read
    both as more of the expression and as a new statement, and the part that token i starts
    (its right operand, its bracket) is not complete before the end. Once it is, ANTLR takes
    its first alternative and goes on.

    A new statement cannot close a bracket opened before it, nor hold `,` `=` `:` `for`
    outside brackets, nor `,` in a parenthesis of its own; at a `;` both readings end, and
    ANTLR goes on."""
    bracket = tokens[i].kind in ("(", "[")

    def decides(kind: str, depth: int) -> bool:
        if depth == 0 and kind in (",", "=", ":", "for", ";"):
            return True
        if bracket:
            return depth == 1 and kind in (",", "for")
        return depth == 0 and kind in _OPERANDS  # the right operand is complete

    return _open_to_end(tokens, i, decides)


def _undecided(tokens: list[Token], i: int) -> bool:
    """A list or dict still open at the end with no `,` or `for` of its own: a literal or a
    comprehension, ANTLR cannot yet tell."""
    return _open_to_end(tokens, i, lambda kind, depth: depth == 1 and kind in (",", "for"))


def _open_to_end(tokens: list[Token], i: int, decides: Callable[[str, int], bool]) -> bool:
    """Whether the part from token i is still undecided at the end: no bracket closes what
    was open at token i (a new statement cannot close it; or the part is complete), and no
    other token `decides(kind, depth)` it, depth counting the brackets opened since i."""
    depth = 0
    for t in tokens[i:]:
        if t.kind in _OPENERS:
            depth += 1
        elif t.kind in _CLOSERS:
            depth -= 1
            if depth <= 0:
                return False
        elif decides(t.kind, depth):
            return False
    return True


def _message(frame: _Frame, t: Token) -> str | None:
    """ANTLR's error where it ended the expression before `t`: `missing X` when X would let
    `t` follow, `mismatched input` when it would not; None when a `;` is missing (it reads on)."""

    def missing(x: str) -> str:
        return f"missing '{x}' at '{t.text}'"

    def mismatched(expected: str) -> str:
        return f"mismatched input '{t.text}' expecting {expected}"

    if frame.ifs:
        return missing("else")
    match frame.kind, frame.commas:
        case (("top" | "body"), _):
            if frame.statement == "return":
                return mismatched("';'")
            return missing("{") if frame.statement == "for" else None
        case "select(", 0:
            return missing(",")
        case "select(", 1:
            return mismatched("','")
        case "aggregate(", 0:
            return missing(",")
        case ("aggregate(", 1) | ("draw", 0):
            return mismatched(_BOTH)
        case (("index" | "list"), _):
            return missing("]")
        case "dict", _:
            return missing("}" if frame.in_value or frame.comprehension else ":")
        case "params", _:
            return None
    return missing(")")
