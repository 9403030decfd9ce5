"""The original's syntax error messages (ANTLR's wording), for piped sessions.

raspc parses with Lark, whose errors say what was expected in its own words. Piped sessions
must print what the original printed, so this module rewrites a syntax error the way ANTLR's
default error strategy words it, for the situations that cover most mistakes:

- a token that cannot start a statement: `mismatched input 'if' expecting {...}`, or
  `extraneous input 'in' expecting {...}` when the token after it could (ANTLR drops one token);
- a token after a complete statement (`tokens;;`): the same, with `<EOF>` in the set;
- a token where an expression or a name must come: `... expecting {'(', ...}` / `expecting ID`,
  or `missing ID at 'in'` when the token would fit after a name;
- a token where a statement's keywords want one thing (`set foo`, `load foo;`, `draw x;`,
  `for x range(3)`), after a select's comparison, after a whole assignment (`x = y = 1;`)
  or inside a body (`return` or `}` due): ANTLR's recovery, which drops the token (`extraneous
  input`), inserts the expected one (`missing ... at`) or says what it expected;
- a character no token starts with: `token recognition error at: '@'`;
- anything else: `no viable alternative at input '<the tokens read, without spaces>'`.

A loaded file's error is worded for the lines the original's reader held (rasp.repl_errors).

The interactive REPL prints raspc's own messages, with the column and a caret, instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from rasp.errors import RaspSyntaxError
from rasp.repl_input import Status, Token, offset, parse_input, tokenize

# The literal tokens that start an expression and a statement, in ANTLR's (the grammar's)
# order: `def` and `for` come between the statement's own and the rest of the expression's.
_EXPR_LITERALS = tuple("( { aggregate( [ not - + round indicator select( range( zip( len(".split())
_STMT_LITERALS = (
    *"set s-op selector show".split(),
    "full seq display",
    *"examples exit() exit quit quit() load draw ( def { for".split(),
    *_EXPR_LITERALS[2:],
)


# Tokens that can end an expression: after them an operator, `,` or `;` is due, not an operand.
_VALUE_ENDS = frozenset(("ID", "PosInt", "Float", "String", ")", "]", "}"))
_COMPARISONS = frozenset(("==", "!=", "<", ">", "<=", ">="))


def _set_text(literals: tuple[str, ...], kinds: tuple[str, ...], eof: bool = False) -> str:
    items = (["<EOF>"] if eof else []) + [f"'{t}'" for t in literals] + list(kinds)
    return "{" + ", ".join(items) + "}"


@dataclass(frozen=True)
class _Context:
    """What ANTLR expected where the error is: the tokens and how it prints them."""

    literals: frozenset[str]
    kinds: frozenset[str]
    text: str


STATEMENT = _Context(
    frozenset(_STMT_LITERALS),
    frozenset(("Float", "PosInt", "String", "Comment", "ID")),
    _set_text(_STMT_LITERALS, ("Float", "PosInt", "String", "Comment", "ID")),
)
AFTER_STATEMENT = _Context(
    STATEMENT.literals,
    STATEMENT.kinds | {"<EOF>"},
    _set_text(_STMT_LITERALS, ("Float", "PosInt", "String", "Comment", "ID"), eof=True),
)
EXPRESSION = _Context(
    frozenset(_EXPR_LITERALS),
    frozenset(("Float", "PosInt", "String", "ID")),
    _set_text(_EXPR_LITERALS, ("Float", "PosInt", "String", "ID")),
)
NAME = _Context(frozenset(), frozenset(("ID",)), "ID")


_BODY_KINDS = ("Float", "PosInt", "String", "Comment", "ID")
_BODY_LITERALS = ("load", "draw", "(", "def", "{", "for")
FOR_BODY = _Context(
    frozenset(_BODY_LITERALS + _EXPR_LITERALS[2:]),
    frozenset(_BODY_KINDS),
    _set_text(_BODY_LITERALS + _EXPR_LITERALS[2:], _BODY_KINDS),
)
DEF_BODY = _Context(
    FOR_BODY.literals | {"return"},
    FOR_BODY.kinds,
    _set_text(_BODY_LITERALS + ("return",) + _EXPR_LITERALS[2:], _BODY_KINDS),
)
DEF_END = _Context(frozenset(("}",)), frozenset(("Comment",)), "{'}', Comment}")


def _one(literal: str) -> _Context:
    return _Context(frozenset((literal,)), frozenset(), f"'{literal}'")


ON_OFF = _Context(frozenset(("on", "off")), frozenset(), "{'on', 'off'}")
KIND = _Context(
    frozenset(("s-op", "selector", "example")), frozenset(), "{'s-op', 'selector', 'example'}"
)
# A statement's first keywords -> (what ANTLR expects next, what may follow that: the tokens
# after which it reports the expected one as missing; None where it never does).
_AFTER_KEYWORDS: dict[tuple[str, ...], tuple[_Context, _Context | None]] = {
    ("s-op",): (_one("examples"), ON_OFF),
    ("selector",): (_one("examples"), ON_OFF),
    ("set",): (KIND, None),
    ("show",): (KIND, None),
    ("set", "s-op"): (_one("example"), EXPRESSION),
    ("set", "selector"): (_one("example"), EXPRESSION),
    ("show", "s-op"): (_one("example"), AFTER_STATEMENT),
    ("show", "selector"): (_one("example"), AFTER_STATEMENT),
    ("examples",): (ON_OFF, AFTER_STATEMENT),
    ("s-op", "examples"): (ON_OFF, AFTER_STATEMENT),
    ("selector", "examples"): (ON_OFF, AFTER_STATEMENT),
    ("full seq display",): (ON_OFF, AFTER_STATEMENT),
    ("load",): (_Context(frozenset(), frozenset(("String",)), "String"), _one(";")),
    ("load", "String"): (_one(";"), AFTER_STATEMENT),
    ("draw",): (_one("("), EXPRESSION),
    ("for", "ID"): (_one("in"), EXPRESSION),
}


def _fits(context: _Context, token: Token) -> bool:
    return token.kind in context.literals or token.kind in context.kinds


def _gets_further(text: str, past: int) -> bool:
    """Whether `text` parses up to (at least) offset `past`."""
    parsed = parse_input(text)
    if parsed.status is not Status.ERROR or parsed.error is None:
        return True
    at = offset(text, parsed.error.line, parsed.error.column)
    return at is not None and at >= past


def antlr_message(err: RaspSyntaxError, text: str) -> str:
    """The original's message for a statement that does not parse."""
    tokens, bad_char = tokenize(text)
    at = offset(text, err.line, err.column)
    if bad_char is not None and (at is None or bad_char <= at):
        return f"token recognition error at: '{text[bad_char]}'"
    read = [t for t in tokens if at is None or t.start <= at]
    fallback = f"no viable alternative at input '{''.join(t.text for t in read)}'"
    if at is None or not err.message.startswith("unexpected ") or not read:
        return fallback
    i = len(read) - 1
    bad = tokens[i]
    after = tokens[i + 1] if i + 1 < len(tokens) else Token(len(text), len(text), "<EOF>", "")
    before, rest = text[: bad.start], text[bad.end :]
    ended = _ended_before(tokens, i)
    if ended is not None:  # ANTLR ended the expression before that token
        at_token, due = tokens[ended[0]].text, ended[1]
        if tokens[ended[0] + 1].kind == due:
            return f"extraneous input '{at_token}' expecting '{due}'"
        return f"missing '{due}' at '{at_token}'"  # `;`: the original reads on (rasp.repl)
    undecided = _undecided_collection(tokens, i)
    if undecided is not None:  # ANTLR's look-ahead from that bracket finds no way on
        return (
            f"no viable alternative at input '{''.join(t.text for t in tokens[undecided : i + 1])}'"
        )
    if i > 0 and tokens[i - 1].kind in ("round", "indicator"):  # they take a parenthesis
        return f"missing '(' at '{bad.text}'"
    if _after_predicate(tokens, i):
        return _closing_select(text, tokens, i)
    body = _in_body(tokens, i)
    if body is not None:
        return _body_message(body, bad, after, tokens[i - 1].kind == "{")
    kinds = tuple(t.kind for t in tokens[:i])
    keywords = _AFTER_KEYWORDS.get(kinds if kinds[-2:] != ("for", "ID") else kinds[-2:])
    if keywords is not None:  # ANTLR drops the token, inserts the expected one, or says so
        expected, then = keywords
        if _fits(expected, after):
            return f"extraneous input '{bad.text}' expecting {expected.text}"
        if then is not None and _fits(then, bad):
            return f"missing {expected.text} at '{bad.text}'"
        return f"mismatched input '{bad.text}' expecting {expected.text}"
    if i == 0:
        context = STATEMENT
    elif parse_input(before).status is Status.COMPLETE:
        context = AFTER_STATEMENT
    elif tokens[i - 1].kind in _VALUE_ENDS:  # an operator or `;` was due: ANTLR's sets vary
        return (
            _separator_due(tokens, i)
            or _missing_closer(text, tokens, i)
            or _semicolon_due(tokens, i)
            or _stray_closer(tokens, i)
            or fallback
        )
    elif _gets_further(f"{before} (x) {rest}", len(before) + 5):
        context = EXPRESSION
    elif _gets_further(f"{before} x {rest}", len(before) + 3):
        context = NAME
    else:
        return fallback
    if _fits(context, after):
        return f"extraneous input '{bad.text}' expecting {context.text}"
    if context is NAME and _gets_further(
        f"{before} x {bad.text}{rest}", len(before) + 3 + len(bad.text)
    ):
        return f"missing ID at '{bad.text}'"
    return f"mismatched input '{bad.text}' expecting {context.text}"


def _in_body(tokens: list[Token], i: int) -> str | None:
    """Where token `i` starts a statement inside a function's or a loop's body: "def", or
    "def return" once the body's `return` has been read, or "for"; else None."""
    stack: list[str | None] = []  # per open bracket: the body it opens ("def", "for") or None
    first: str | None = None  # the kind of the current statement's first token
    for k, t in enumerate(tokens[:i]):
        if first is None:
            first = t.kind
        if t.kind == "{":
            opens = first in ("def", "for") and k > 0 and tokens[k - 1].kind in _VALUE_ENDS
            stack.append(first if opens else None)
            first = None if opens else first
        elif t.kind in ("(", "[") or t.kind.endswith("("):
            stack.append(None)
        elif t.kind in (")", "]", "}") and stack:
            closed = stack.pop()
            first = None if closed is not None else first  # a def or a loop ends with its `}`
        elif t.kind == "return" and stack and stack[-1] == "def":
            stack[-1] = "def return"
        elif t.kind == ";":
            first = None
    if first is not None or not stack or stack[-1] is None:
        return None
    return stack[-1]


def _body_message(body: str, bad: Token, after: Token, first: bool) -> str:
    """ANTLR's words for a token that cannot start a statement in a body: at the body's start
    the set of statements; after one, the token that ends the body's loop (`return` in a
    function, `}` in a loop); after the `return`, the `}`."""
    if first:
        expected = DEF_BODY if body == "def" else FOR_BODY
        word = "extraneous" if _fits(expected, after) else "mismatched"
        return f"{word} input '{bad.text}' expecting {expected.text}"
    expected = {"def": _one("return"), "for": _one("}")}.get(body, DEF_END)
    word = "extraneous" if _fits(expected, after) else "mismatched"
    return f"{word} input '{bad.text}' expecting {expected.text}"


def _ended_before(tokens: list[Token], i: int) -> tuple[int, str] | None:
    """After a value, a binary `+`/`-` (or, in a statement, a call's `(` or an index's `[`)
    could also start something new; when the error at token `i` comes before its operand is
    complete, ANTLR's look-ahead fails both ways and it ends the expression there. The first
    such token and what ANTLR then wants: `;` in the statement, `)` in parentheses; else None.
    Only for a statement of a name at the top level."""
    if not tokens or tokens[0].kind != "ID" or "{" in _open_brackets(tokens[:i]):
        return None
    frames: list[tuple[int, bool]] = []  # open brackets: (where, a parenthesised group)
    found: list[int | None] = [None]  # per level, 0 the statement's: such a token
    for k, t in enumerate(tokens[:i]):
        level, after_value = len(frames), k > 0 and tokens[k - 1].kind in _VALUE_ENDS
        starts = ("+", "-", "(", "[") if level == 0 else ("+", "-")
        if t.kind in starts and after_value and (level == 0 or frames[-1][1]):
            found[level] = k
        if t.kind in ("(", "[", "{") or t.kind.endswith("("):
            frames.append((k, t.kind == "(" and not after_value))
            found.append(None)
        elif t.kind in (")", "]", "}") and frames:
            frames.pop()
            found.pop()
        elif t.kind == "," and frames and found[-2] == frames[-1][0]:
            found[-2] = None  # a call: `(1, 2` cannot start a statement
        now = len(frames)
        if found[now] is not None and k > found[now]:
            found[now] = None  # the operand is whole: ANTLR read on (`x = 1 + 2 3;`)
    level = next((n for n, k in enumerate(found) if k is not None), None)
    return None if level is None else (found[level], ";" if level == 0 else ")")


def _undecided_collection(tokens: list[Token], i: int) -> int | None:
    """The index of the outermost open `[` or `{` before token `i` whose kind ANTLR has not
    yet decided (a list or a comprehension, a dict or a dict built by a loop: no `,` or `for`
    in it yet), if any; an index's `[` and a body's `{` follow a value and are no such thing."""
    frames: list[tuple[int, bool]] = []  # (where, a collection) per open bracket
    decided: set[int] = set()
    for k, t in enumerate(tokens[:i]):
        if t.kind in ("(", "[", "{") or t.kind.endswith("("):
            after_value = k > 0 and tokens[k - 1].kind in _VALUE_ENDS
            frames.append((k, t.kind in ("[", "{") and not after_value))
        elif t.kind in (")", "]", "}") and frames:
            frames.pop()
        elif t.kind in (",", "for") and frames:
            decided.add(frames[-1][0])
    return next((k for k, collection in frames if collection and k not in decided), None)


def _open_brackets(tokens: list[Token]) -> list[str]:
    stack: list[str] = []
    for t in tokens:
        if t.kind in ("(", "[", "{") or t.kind.endswith("("):
            stack.append(t.kind)
        elif t.kind in (")", "]", "}") and stack:
            stack.pop()
    return stack


def _stray_closer(tokens: list[Token], i: int) -> str | None:
    """A closing bracket where a statement's `;` is due (`x = 1);`): ANTLR drops it when a
    `;` follows (`extraneous input`), else says what it expected."""
    bad = tokens[i]
    if bad.kind not in (")", "]", "}") or _open_brackets(tokens[:i])[-1:] not in ([], ["{"]):
        return None
    after = tokens[i + 1].kind if i + 1 < len(tokens) else "<EOF>"
    word = "extraneous" if after == ";" else "mismatched"
    return f"{word} input '{bad.text}' expecting ';'"


def _after_predicate(tokens: list[Token], i: int) -> bool:
    """Whether token `i` follows the comparison that is a `select(`'s last argument."""
    return (
        i > 1
        and tokens[i - 1].kind in _COMPARISONS
        and tokens[i - 2].kind == ","
        and _open_brackets(tokens[:i])[-1:] == ["select("]
    )


def _closing_select(text: str, tokens: list[Token], i: int) -> str:
    """Only `)` may follow a select's comparison: ANTLR drops the token when `)` comes next,
    inserts the `)` when that lets it go on (`select(a, b, ==;`), else says it expected one."""
    bad = tokens[i]
    if i + 1 < len(tokens) and tokens[i + 1].kind == ")":
        return f"extraneous input '{bad.text}' expecting ')'"
    closed = f"{text[: bad.start]}) {text[bad.start :]}"
    if _gets_further(closed, bad.start + 2 + len(bad.text)):  # the token may follow the `)`
        return f"missing ')' at '{bad.text}'"
    return f"mismatched input '{bad.text}' expecting ')'"


def _semicolon_due(tokens: list[Token], i: int) -> str | None:
    """Token `i` after a whole assignment or `return` value, where only `;` may come (`x = y =
    1;`): ANTLR drops the token when `;` follows, inserts the `;` where the token could start
    a statement (the original then reads on: rasp.repl), else says it expected one. An
    expression statement fails its prediction instead: None there."""
    if _open_brackets(tokens[:i])[-1:] not in ([], ["{"]):
        return None
    begin = max((k + 1 for k in range(i) if tokens[k].kind in (";", "{", "}")), default=0)
    statement = tokens[begin:i]
    depth = 0
    assigned = False
    for t in statement:
        depth += t.kind in ("(", "[", "{") or t.kind.endswith("(")
        depth -= t.kind in (")", "]", "}")
        assigned = assigned or (t.kind == "=" and depth == 0)
    if not statement or not (assigned or statement[0].kind == "return"):
        return None
    bad = tokens[i]
    if i + 1 < len(tokens) and tokens[i + 1].kind == ";":
        return f"extraneous input '{bad.text}' expecting ';'"
    returned = statement[0].kind == "return"  # then only the body's `}` may follow
    in_body = _open_brackets(tokens[:i])[-1:] == ["{"]  # where a `}` may follow too
    if _fits(DEF_END if returned else STATEMENT, bad) or (in_body and bad.kind == "}"):
        return f"missing ';' at '{bad.text}'"
    return f"mismatched input '{bad.text}' expecting ';'"


def _separator_due(tokens: list[Token], i: int) -> str | None:
    """Where only a `,` may follow a value (a select's first two arguments, an aggregate's
    first) or only a `:` (a dict's key): ANTLR drops the token when the separator comes next,
    inserts the separator when the token could follow it, else says it expected one."""
    frames: list[list] = []  # per open bracket: [kind, commas, a `:` since the last `,`]
    for k, t in enumerate(tokens[:i]):
        if t.kind in ("(", "[", "{") or t.kind.endswith("("):
            after_value = k > 0 and tokens[k - 1].kind in _VALUE_ENDS
            frames.append([t.kind if not (t.kind == "{" and after_value) else "body", 0, False])
        elif t.kind in (")", "]", "}") and frames:
            frames.pop()
        elif t.kind == "," and frames:
            frames[-1][1:] = [frames[-1][1] + 1, False]
        elif t.kind in (":", "for") and frames:
            frames[-1][2] = True  # a value follows (or a loop: no more keys)
    if not frames:
        return None
    kind, commas, colon = frames[-1]
    if (kind == "select(" and commas < 2) or (kind == "aggregate(" and commas == 0):
        due = ","
    elif kind == "{" and not colon:
        due = ":"
    else:
        return None
    bad = tokens[i]
    if i + 1 < len(tokens) and tokens[i + 1].kind == due:
        return f"extraneous input '{bad.text}' expecting '{due}'"
    if _fits(EXPRESSION, bad):
        return f"missing '{due}' at '{bad.text}'"
    return f"mismatched input '{bad.text}' expecting '{due}'"


def _missing_closer(text: str, tokens: list[Token], i: int) -> str | None:
    """`missing ')' at ';'`: ANTLR inserts the closing bracket of the innermost open `(` or `[`
    when that lets it go on (`x = (1 + 2;`); first it drops a token that the closing bracket
    follows (`x = (1 2);`)."""
    stack = _open_brackets(tokens[:i])
    if not stack or stack[-1] == "{":
        return None
    closer = "]" if stack[-1] == "[" else ")"
    bad = tokens[i]
    if i + 1 < len(tokens) and tokens[i + 1].kind == closer:
        return f"extraneous input '{bad.text}' expecting '{closer}'"
    if _gets_further(f"{text[: bad.start]}{closer} {text[bad.start :]}", bad.start + 2):
        return f"missing '{closer}' at '{bad.text}'"
    return None
