"""Files and inputs: reading a program, finding a `load`ed file, the standard library, and
what counts as an input sequence.

Every tool reads programs through `read_source`, so a wrong file (a device, a pipe, a binary,
a huge file) is one clear RaspError everywhere, never a hang or a traceback.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from typing import Any

from rasp import ast
from rasp.build import Applied
from rasp.errors import RaspNameError, RaspSyntaxError, RaspTypeError
from rasp.parser import parse_program

LIBRARY_PATH = "stdlib.rasp"
MAX_SOURCE_BYTES = 256 * 1024  # ~90x the standard library: beyond it, a wrong file, not a program


@cache
def stdlib() -> list[ast.Node]:
    """The standard library's statements, parsed once per process (the AST is never changed)."""
    return parse_program(resources.files("rasp").joinpath(LIBRARY_PATH).read_text(), LIBRARY_PATH)


def read_source(path: str) -> str:
    """Read a program as UTF-8, turning OS and decoding problems into RaspErrors. Only a
    regular file up to MAX_SOURCE_BYTES is read: a device or a FIFO would never end (or block)."""
    try:
        if not os.path.isfile(path) and os.path.exists(path):
            raise RaspNameError(
                "not a regular file (a device or a pipe?), so not a program", path=path
            )
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_SOURCE_BYTES + 1)
        if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise RaspNameError(
                f"larger than {MAX_SOURCE_BYTES // 1024} KiB: too large to be a RASP program",
                path=path,
            )
        return text
    except UnicodeDecodeError as exc:
        raise RaspSyntaxError(
            f"{path} is not UTF-8 text (byte {exc.start}: "
            f"{exc.object[exc.start : exc.start + 1]!r})",
            path=path,
        ) from None
    except OSError as exc:
        raise RaspNameError(f"cannot read {path}: {exc.strerror}", path=path) from None


def resolve_load(target: str, current: str | None) -> str:
    """`load "p";` reads p.rasp from the working directory (as the original), else beside
    the file that loads it."""
    name = target if target.endswith(".rasp") else target + ".rasp"
    candidates = [name]
    if current:
        candidates.append(os.path.join(os.path.dirname(current), name))
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise RaspNameError(f"could not find file: {name}")


def file_origin(path: str) -> str:
    """What a function defined in `path` says it comes from: the file's name, no suffix."""
    return os.path.splitext(os.path.basename(path))[0]


def normalise_input(x: Any) -> str | list[Any]:
    """An input is a non-empty string (one token per character) or a non-empty list; a dict
    is its keys (the original iterates it)."""
    if isinstance(x, str) and x:
        return x
    if isinstance(x, list | tuple | dict) and len(x) > 0:
        return list(x)
    shown = "" if isinstance(x, str) else str(x)
    raise RaspTypeError(f"RASP sequences/selectors expect non-empty iterables, got: {shown}")


def to_python(value: Any) -> Any:
    """A plain value as Python data (an `Applied` as its values)."""
    if isinstance(value, Applied):
        return value.value
    return value
