"""The machine-readable header of example programs, read by tests, benchmarks and the compiler,
and the one way to load a program file with it.

    # reverse: the input, backwards
    # compile: reverse --vocab a,b,c --max-len 16
    # example: "abc" -> [c, b, a]
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from rasp import ast, ir
from rasp.env import Echo, Environment
from rasp.errors import RaspSyntaxError
from rasp.parser import parse_expression
from rasp.source import normalise_input, read_source

MAX_LEN = 4096  # the longest input a header (or a flag) may ask a compiled model to take


@dataclass
class CompileSpec:
    expr: str
    vocab: list[Any]
    max_len: int
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Example:
    input: Any
    output: str  # as the REPL prints it, e.g. "[c, b, a]" (the type suffix is optional)


@dataclass
class Header:
    name: str | None = None  # the first `# name: what it does` line's name
    compile: CompileSpec | None = None
    examples: list[Example] = field(default_factory=list)


def parse_vocab(text: str) -> list[Any]:
    """`a,b,c` → strings; `1,2,3` → ints (when every item parses as an integer)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return [int(t) for t in items]
    except ValueError:
        return items


def _literal(node: ast.Node) -> Any:
    match node:
        case ast.Const(value=v):
            return v
        case ast.Name(name="True"):
            return True
        case ast.Name(name="False"):
            return False
        case ast.UnaryOp(op="-", operand=ast.Const(value=v)) if not isinstance(v, str):
            return -v
        case ast.ListExpr(items=items):
            return [_literal(i) for i in items]
    raise RaspSyntaxError(f"expected a literal (a string or a list), got {node.span.text!r}")


def parse_input_literal(text: str) -> Any:
    """An input given on the command line: a RASP literal, or else raw text."""
    stripped = text.strip()
    if stripped[:1] in ('"', "["):
        return _literal(parse_expression(stripped))
    return text


class SpecMissing(ValueError):
    """What to compile is not fully given: `missing` names the flags (`-e`, `--vocab`,
    `--max-len`) that neither the caller nor the file's `# compile:` header supplied."""

    def __init__(self, missing: list[str]):
        super().__init__(f"{', '.join(missing)} needed")
        self.missing = missing


def compile_spec(
    header: Header | None,
    expr: str | None = None,
    vocab: list[Any] | None = None,
    max_len: int | None = None,
    example: Any = None,
) -> CompileSpec:
    """What to compile, each part the first given of: the caller's value (a flag), the
    header's `# compile:` line, and (vocabulary and length only) the example's distinct
    tokens and its length. Raises SpecMissing naming the parts none of them gave."""
    spec = header.compile if header is not None else None
    tokens = list(normalise_input(example)) if example is not None else None
    if expr is None and spec is not None:
        expr = spec.expr
    if vocab is None:
        vocab = spec.vocab if spec else (sorted(set(tokens), key=str) if tokens else None)
    if max_len is None:
        max_len = spec.max_len if spec else (max(1, len(tokens)) if tokens is not None else None)
    missing = [
        flag
        for flag, value in (("-e", expr), ("--vocab", vocab), ("--max-len", max_len))
        if not value
    ]
    if missing or expr is None or vocab is None or max_len is None:
        raise SpecMissing(missing)
    return CompileSpec(expr, vocab, max_len, dict(spec.options) if spec else {})


class HeaderError(ValueError):
    """A malformed header value; `at` is the text the caret should point at, when known."""

    def __init__(self, message: str, at: str | None = None):
        super().__init__(message)
        self.at = at


def parse_max_len(text: str) -> int:
    """A `--max-len` value: a whole number from 1 to MAX_LEN (the compiled model holds one
    position per unit, so a runaway value would ask for more memory than any machine has)."""
    if not text.strip().isdigit():
        raise HeaderError(f"--max-len needs a whole number, got {text!r}", text)
    value = int(text)
    if not 1 <= value <= MAX_LEN:
        raise HeaderError(f"--max-len must be between 1 and {MAX_LEN}, got {value}", text)
    return value


def _parse_compile(rest: str) -> CompileSpec:
    expr, _, opts = (" " + rest).partition(" --")
    try:
        words = shlex.split("--" + opts) if opts else []
    except ValueError as exc:  # an unclosed quote
        raise HeaderError(f"{str(exc).lower()}", '"' if '"' in opts else "'") from None
    options: dict[str, str] = {}
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        value = words[i + 1] if i + 1 < len(words) else ""
        if value.startswith("--") or not value:
            raise HeaderError(f"{word} needs a value", word)
        options[word[2:]] = value
    missing = [f"--{key}" for key in ("vocab", "max-len") if key not in options]
    if not expr.strip() or missing:
        raise HeaderError(
            "needs 'NAME --vocab a,b,c --max-len N'"
            + (f" (no {' or '.join(missing)})" if missing else "")
        )
    vocab = parse_vocab(options.pop("vocab"))
    if not vocab:
        raise HeaderError("--vocab needs at least one token", "--vocab")
    return CompileSpec(expr.strip(), vocab, parse_max_len(options.pop("max-len")), options)


def read_header(path: str, text: str | None = None) -> Header:
    """The leading `#` lines of a program (`text`, when the caller has read it already);
    unknown lines are free-form comments. A malformed `compile:` or `example:` line is a
    RaspSyntaxError at that line."""
    header = Header()
    source = read_source(path) if text is None else text
    for number, line in enumerate(source.splitlines(), start=1):
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        body = line[1:].strip()
        key, sep, rest = body.partition(":")
        key, rest = key.strip(), rest.strip()
        if not sep:
            continue
        column = line.index(rest) + 1 if rest else len(line) + 1
        try:
            if key == "compile":
                header.compile = _parse_compile(rest)
            elif key == "example":
                given, arrow, want = rest.partition("->")
                if not arrow:
                    raise HeaderError("needs 'INPUT -> OUTPUT'")
                header.examples.append(Example(parse_input_literal(given), want.strip()))
            elif header.name is None and " " not in key:
                header.name = key
        except (HeaderError, RaspSyntaxError) as exc:
            message = exc.message if isinstance(exc, RaspSyntaxError) else str(exc)
            at = getattr(exc, "at", None)
            if at and at in line[column - 1 :]:
                column = line.index(at, column - 1) + 1
            raise RaspSyntaxError(
                f"`# {key}:` line: {message}", number, column, path, line
            ) from None
    return header


@dataclass
class Program:
    """A program file read once (a second read of a pipe would block): its environment after
    running it, its text and its header."""

    path: str
    env: Environment
    source: str
    header: Header
    echoes: list[Echo] = field(default_factory=list)  # what each statement bound

    def default_exprs(self) -> list[str]:
        return default_exprs(self.header, self.env)


def load_program(path: str) -> Program:
    """Read (`read_source`: UTF-8, one clear error), parse and run `path`, header included;
    any problem is a RaspError."""
    env = Environment()
    source = read_source(path)
    header = read_header(path, source)
    echoes = env.run(source, path)
    return Program(path, env, source, header, echoes)


def default_exprs(header: Header, env: Environment) -> list[str]:
    """What a tool shows without -e: the header's compiled name, else every s-op and
    selector the file defines."""
    if header.compile is not None:
        return [header.compile.expr]
    return [name for name, v in env.top.vars.items() if isinstance(v, ir.IRNode) and name != "out"]
