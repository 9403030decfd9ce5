"""Text → AST: the Lark LALR parser, and syntax errors that point at the problem."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from rasp import ast
from rasp.errors import RaspSyntaxError

# Friendly names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "CMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "COMMENT": "a comment",
    "$END": "end of input",
    "FULL_SEQ_DISPLAY": "'full seq display'",
}


@cache
def _parser() -> Lark:
    grammar = resources.files("rasp").joinpath("grammar.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        start=["start", "repl_input"],
        propagate_positions=True,
        maybe_placeholders=True,
    )


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    try:
        pattern = _parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    return f"'{pattern.value}'" if pattern.type == "str" else terminal.lower()


def _expected(terminals: set[str]) -> str:
    names = sorted({_describe(t) for t in terminals})
    if len(names) > 8:
        names = names[:8] + ["..."]
    return ", ".join(names)


def _wanted(err: UnexpectedInput) -> set[str]:
    """The terminals the parser (or, for a bad character, the lexer) would have accepted."""
    if isinstance(err, UnexpectedCharacters):
        return set(err.allowed or ())
    return set(getattr(err, "expected", ()))


def _syntax_error(err: UnexpectedInput, text: str, path: str | None) -> RaspSyntaxError:
    lines = text.splitlines() or [""]
    line = getattr(err, "line", None)
    column = getattr(err, "column", None)
    if isinstance(err, UnexpectedEOF) or line is None or line < 1:
        line = len(lines)
        column = len(lines[-1]) + 1
        message = f"unexpected end of input; expected {_expected(_wanted(err))}"
    elif isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            message = f"unexpected end of input; expected {_expected(err.accepts or err.expected)}"
        else:
            message = (
                f"unexpected {token.value!r}; expected {_expected(err.accepts or err.expected)}"
            )
    elif isinstance(err, UnexpectedCharacters):
        message = f"unexpected character {err.char!r}"
        if err.allowed:
            message += f"; expected {_expected(set(err.allowed))}"
    else:  # pragma: no cover - lark raises only the kinds above
        message = str(err)
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return RaspSyntaxError(message, line, column, path, source_line)


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """Parse tree → AST dataclasses. Each method gets the rule's children."""

    def __init__(self, text: str, offset: int = 0, lines: ast.SourceLines | None = None):
        super().__init__()
        self._text = text
        self._offset = offset  # lines before `text` in its file (a chunk of a loaded file)
        self._lines = lines or ast.SourceLines(text)

    def _sp(self, meta) -> ast.Span:
        if getattr(meta, "empty", True):
            return ast.Span(0, 0, 0, 0)
        return ast.Span(
            meta.line + self._offset,
            meta.column,
            meta.end_line + self._offset,
            meta.end_column,
            self._text[meta.start_pos : meta.end_pos],
            self._lines,
        )

    # statements
    def start(self, meta, *items):
        return _statements(items)

    def repl_input(self, meta, statement, _comment):
        return statement

    def comment_only(self, meta, comment):
        return ast.Comment(self._sp(meta), str(comment))

    def expr_stmt(self, meta, expr):
        return ast.ExprStmt(self._sp(meta), expr)

    def assign(self, meta, names, values):
        return ast.Assign(self._sp(meta), names, values)

    def draw(self, meta, _kw, expr, example):
        return ast.Draw(self._sp(meta), expr, example)

    def load(self, meta, _kw, path):
        return ast.Load(self._sp(meta), str(path)[1:-1])

    def funcdef(self, meta, _def, name, params, *rest):
        *body, _ret, returns = [
            r for r in rest if not (isinstance(r, Token) and r.type == "COMMENT")
        ]
        return ast.FuncDef(self._sp(meta), str(name), params or [], _statements(body), returns)

    def forloop(self, meta, _for, names, _in, source, *body):
        return ast.ForLoop(self._sp(meta), names, source, _statements(body))

    def names(self, meta, *names):
        return [str(n) for n in names]

    def exprs(self, meta, *exprs):
        return list(exprs)

    # REPL commands
    def set_example(self, meta, *parts):
        return ast.ReplCommand(self._sp(meta), "set_example", _kind(parts), value=parts[-1])

    def show_example(self, meta, *parts):
        return ast.ReplCommand(self._sp(meta), "show_example", _kind(parts))

    def examples_toggle(self, meta, *parts):
        return ast.ReplCommand(
            self._sp(meta), "examples", _kind(parts), flag=parts[-1].type == "ON"
        )

    def full_seq_display(self, meta, _kw, flag):
        return ast.ReplCommand(self._sp(meta), "full_seq_display", flag=flag.type == "ON")

    def exit(self, meta, _kw):
        return ast.ReplCommand(self._sp(meta), "exit")

    # expressions
    def in_op(self, meta, left, _in, right):
        return ast.BinOp(self._sp(meta), "in", left, right)

    def ternary(self, meta, then, _if, cond, _else, other):
        return ast.Ternary(self._sp(meta), then, cond, other)

    def logic_op(self, meta, left, op, right):
        return ast.BinOp(self._sp(meta), str(op), left, right)

    def binop(self, meta, left, op, right):
        if str(op) == "!=":
            raise RaspSyntaxError(
                "'!=' is only allowed inside select(...); write not (a == b) instead",
                op.line,
                op.column,
            )
        return ast.BinOp(self._sp(meta), str(op), left, right)

    def unop(self, meta, op, operand):
        return ast.UnaryOp(self._sp(meta), str(op), operand)

    def index(self, meta, target, index):
        return ast.Index(self._sp(meta), target, index)

    def call(self, meta, func, args):
        return ast.Call(self._sp(meta), func, args or [])

    def name(self, meta, token):
        return ast.Name(self._sp(meta), str(token))

    def int(self, meta, token):
        return ast.Const(self._sp(meta), int(token))

    def float(self, meta, token):
        return ast.Const(self._sp(meta), float(token))

    def string(self, meta, token):
        return ast.Const(self._sp(meta), str(token)[1:-1])

    def list(self, meta, items):
        return ast.ListExpr(self._sp(meta), items or [])

    def list_comp(self, meta, elem, _for, names, _in, source):
        return ast.Comprehension(self._sp(meta), None, elem, names, source)

    def dict(self, meta, *pairs):
        return ast.DictExpr(self._sp(meta), [p for p in pairs if p is not None])

    def pair(self, meta, key, value):
        return (key, value)

    def dict_comp(self, meta, key, elem, _for, names, _in, source):
        return ast.Comprehension(self._sp(meta), key, elem, names, source)

    def select(self, meta, _kw, keys, queries, op):
        return ast.Select(self._sp(meta), keys, queries, str(op))

    def aggregate(self, meta, _kw, sel, sop, default):
        return ast.Aggregate(self._sp(meta), sel, sop, default)

    def range(self, meta, _kw, args):
        return ast.Builtin(self._sp(meta), "range", args or [])

    def zip(self, meta, _kw, args):
        return ast.Builtin(self._sp(meta), "zip", args or [])

    def len(self, meta, _kw, arg):
        return ast.Builtin(self._sp(meta), "len", [arg])


def _kind(parts) -> str | None:
    for p in parts:
        if isinstance(p, Token) and p.type in ("SOP_KW", "SELECTOR_KW"):
            return "s-op" if p.type == "SOP_KW" else "selector"
    return None


def _statements(items) -> list[ast.Node]:
    return [i for i in items if not (isinstance(i, Token) and i.type == "COMMENT")]


def _to_ast(tree: Tree, text: str, path: str | None):
    try:
        return _ToAst(text).transform(tree)
    except RecursionError:
        raise RaspSyntaxError("the program is nested too deeply to parse", path=path) from None
    except RaspSyntaxError as err:
        lines = text.splitlines()
        src = lines[err.line - 1] if err.line and err.line <= len(lines) else None
        raise err.located(err.line, err.column, path, src) from None
    except Exception as err:  # lark wraps our errors in VisitError
        inner = getattr(err, "orig_exc", None)
        if isinstance(inner, RaspSyntaxError):
            lines = text.splitlines()
            err_line = inner.line
            src = lines[err_line - 1] if err_line and err_line <= len(lines) else None
            inner.path = path
            inner.source_line = src
            raise inner from None
        if isinstance(inner, RecursionError):
            raise RaspSyntaxError("the program is nested too deeply to parse", path=path) from None
        raise


def _parse(text: str, start: str, path: str | None):
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, path) from None
    return _to_ast(tree, text, path)


def parse_program(text: str, path: str | None = None) -> list[ast.Node]:
    """Parse a whole file (any number of statements)."""
    return _parse(text, "start", path)


def parse_statement(text: str) -> ast.Node:
    """Parse exactly one statement, as the REPL reads it."""
    return _parse(text, "repl_input", None)


def parse_expression(text: str) -> ast.Node:
    """Parse one expression (the API's `evaluate` takes these)."""
    stripped = text.strip().rstrip(";")
    stmt = parse_statement(stripped + ";")
    if not isinstance(stmt, ast.ExprStmt):
        raise RaspSyntaxError(f"expected an expression, got {text!r}", 1, 1, None, text)
    return stmt.expr


def read_statements(text: str, path: str | None = None) -> list[ast.Node | RaspSyntaxError]:
    """A file read as the original REPL reads a loaded file: line by line, each statement ends
    at the first line where the text read so far parses; a text that can no longer parse is
    reported and skipped, and reading goes on after it (so later statements still run)."""
    found: list[ast.Node | RaspSyntaxError] = []
    lines = ast.SourceLines(text)
    pending, first = "", 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        comment = line.strip().startswith("#")
        if not pending:
            if comment or not line.strip():
                continue  # a statement starts at its first line: errors are placed from it
            first = number
        pending += "\n" if comment else line  # (a comment inside a statement keeps its line)
        try:
            tree = _parser().parse(pending, start="start")
        except UnexpectedInput as err:
            if (
                isinstance(err, UnexpectedEOF)
                or getattr(getattr(err, "token", None), "type", None) == "$END"
            ):
                continue
            error = _syntax_error(err, pending, path)
            error.line = (error.line or 1) + first
            error.source_line = lines.line(error.line)
            found.append(error)
            pending = ""
            continue
        try:
            statements = _ToAst(pending, first, lines).transform(tree)
        except Exception as err:  # lark wraps our errors (a '!=' outside select) in VisitError
            inner = getattr(err, "orig_exc", err)
            if not isinstance(inner, RaspSyntaxError):
                raise
            inner.line = (inner.line or 1) + first
            inner.path, inner.source_line = path, lines.line(inner.line)
            found.append(inner)
            pending = ""
            continue
        if statements:
            found += [s for s in statements if not isinstance(s, ast.Comment)]
            pending = ""
    return found


def parse_recovering(
    text: str, path: str | None = None, max_errors: int = 20
) -> tuple[list[ast.Node], list[RaspSyntaxError]]:
    """Parse, and on a syntax error blank out the broken statement and go on, so that one run
    reports every syntax error (line numbers are kept; statements after the first error still
    parse). Returns the statements of the repaired text and the errors."""
    errors: list[RaspSyntaxError] = []
    lines = text.splitlines()
    masked = text
    while True:
        try:
            statements = parse_program(masked, path)
        except RaspSyntaxError as err:
            if err.line is not None and 0 < err.line <= len(lines):
                err.source_line = lines[err.line - 1]
            errors.append(err)
            repaired = _blank_statement(masked, err)
            if repaired is None or repaired == masked or len(errors) >= max_errors:
                return [], errors
            masked = repaired
            continue
        return statements, errors


def _blank_statement(text: str, err: RaspSyntaxError) -> str | None:
    if err.line is None or err.column is None:
        return None
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    if err.line > len(line_starts):
        return None
    offset = min(line_starts[err.line - 1] + err.column - 1, len(text))
    start = (
        max(text.rfind(";", 0, offset), text.rfind("}", 0, offset), text.rfind("{", 0, offset)) + 1
    )
    ends = [i for i in (text.find(";", offset), text.find("}", offset)) if i != -1]
    end = min(ends) + 1 if ends else len(text)
    blank = "".join(c if c == "\n" else " " for c in text[start:end])
    return text[:start] + blank + text[end:]
