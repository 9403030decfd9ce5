"""Files and inputs: reading a program, finding a `load`ed file, the standard library, what
counts as an input sequence, and the distinct inputs of a vocabulary (every one, or a sample:
`rasp verify` and the language models' data both draw theirs here).

Every tool reads programs through `read_source`, so a wrong file (a device, a pipe, a binary,
a huge file) is one clear RaspError everywhere, never a hang or a traceback.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from rasp import ast
from rasp.build import Applied
from rasp.errors import RaspNameError, RaspSyntaxError, RaspTypeError
from rasp.parser import parse_program
from rasp.values import value_key

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


def count_inputs(vocab: Sequence[Any], lengths: range) -> int:
    """How many inputs of these lengths the vocabulary has."""
    return sum(len(vocab) ** n for n in lengths)


def every_input(vocab: Sequence[Any], lengths: range) -> list[list[Any]]:
    """Every input of these lengths, shortest first, each length in `itertools.product` order."""
    return [list(t) for n in lengths for t in itertools.product(vocab, repeat=n)]


def draw_inputs(
    vocab: Sequence[Any],
    n: int,
    rng: random.Random,
    length: Callable[[int], int],
    patience: int,
) -> list[list[Any]]:
    """Up to `n` distinct inputs (by `value_key`), in the order drawn: draw i (from 1) has
    `length(i)` tokens, each uniform over `vocab`. It stops after `patience * n` draws, so a
    space with fewer than `n` inputs ends with what it holds."""
    seen: set[tuple[tuple[type, Any], ...]] = set()
    found: list[list[Any]] = []
    for draw in range(1, patience * n + 1):
        if len(found) >= n:
            break
        item = [rng.choice(vocab) for _ in range(length(draw))]
        key = tuple(map(value_key, item))
        if key not in seen:
            seen.add(key)
            found.append(item)
    return found
