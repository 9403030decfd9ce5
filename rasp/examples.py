"""The machine-readable header of example programs, read by tests, benchmarks and the compiler.

    # reverse: the input, backwards
    # compile: reverse --vocab a,b,c --max-len 16
    # example: "abc" -> [c, b, a]
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .env import read_source
from .errors import RaspSyntaxError
from .parser import parse_expression


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
    name: str | None = None
    description: str = ""
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


def _parse_compile(rest: str) -> CompileSpec:
    expr, _, opts = rest.partition(" --")
    words = shlex.split("--" + opts) if opts else []
    options: dict[str, str] = {}
    for i in range(0, len(words) - 1, 2):
        options[words[i].lstrip("-")] = words[i + 1]
    if "vocab" not in options or "max-len" not in options:
        raise RaspSyntaxError(f"compile: header needs --vocab and --max-len: {rest!r}")
    vocab = parse_vocab(options.pop("vocab"))
    return CompileSpec(expr.strip(), vocab, int(options.pop("max-len")), options)


def read_header(path: str) -> Header:
    """The leading `#` lines of a program; unknown lines are free-form comments."""
    header = Header()
    for line in read_source(path).splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        body = line[1:].strip()
        key, sep, rest = body.partition(":")
        key, rest = key.strip(), rest.strip()
        if not sep:
            continue
        if key == "compile":
            header.compile = _parse_compile(rest)
        elif key == "example":
            given, arrow, want = rest.partition("->")
            if not arrow:
                raise RaspSyntaxError(f"example: header needs 'INPUT -> OUTPUT': {rest!r}")
            header.examples.append(Example(parse_input_literal(given), want.strip()))
        elif header.name is None and " " not in key:
            header.name, header.description = key, rest
    return header
