"""The original's rules for plain values outside the operators (`build` has those): the
builtins `range`, `zip` and `len`, dictionaries, what `for` iterates over, and unpacking
`a, b = ...`. Each check and message is the original's, so errors read as it wrote them.

And what makes two values one (`value_key`), which the interpreter's tables, the compiler's
value sets and the language models' tokens all use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rasp.build import Names, describe, is_atom
from rasp.errors import RaspEvalError, RaspTypeError

MAX_LIST = 1_000_000  # `range` beyond it is a mistake that would fill the memory


def value_key(v: Any) -> tuple[type, Any]:
    """A value's identity: its type and value. Python's `==` makes 1, 1.0 and True one value,
    but RASP prints them differently and types sequences by them, so here they are three. An
    unhashable value (a list) is keyed by its text."""
    try:
        hash(v)
    except TypeError:
        return (type(v), repr(v))
    return (type(v), v)


def unpack(names: list[str], values: list[Any]) -> list[Any]:
    """The values `names` are bound to: one name takes all values (a list if several), several
    names take one list's items or as many values."""
    if len(names) == 1:
        return [values[0] if len(values) == 1 else list(values)]
    if len(values) == 1:
        (value,) = values
        if not isinstance(value, list):
            raise RaspTypeError(f"expected {len(names)} values, but got: {describe(value)}")
        values = value
    if len(values) != len(names):
        raise RaspTypeError(f"expected {len(names)} values, but got: {len(values)}")
    return list(values)


def iterable(source: Any, complaint: str, shown: Callable[[Any], str]) -> list[Any]:
    """What `for` and comprehensions iterate over: a list, or a dict's keys."""
    if isinstance(source, dict):
        return list(source)
    if not isinstance(source, list):
        raise RaspTypeError(f"{complaint}: {shown(source)}")
    return source


def make_dict(pairs: Iterable[tuple[Any, Any]], names: Names) -> dict[Any, Any]:
    result = {}
    for k, v in pairs:
        if not is_atom(k):
            raise RaspTypeError(
                f"dictionary keys can only be atoms, but instead got: {names.desc(k)}"
            )
        result[k] = v
    return result


def builtin(name: str, args: list[Any], names: Names) -> Any:
    """range, zip and len, with the original's checks and messages."""
    if name == "range":
        if not 1 <= len(args) <= 3:
            raise RaspTypeError(
                f"wrong number of inputs to range, expected: 1, 2, or 3, got: {len(args)}"
            )
        if not all(isinstance(a, int) for a in args):
            raise RaspTypeError(f"range expects all integer inputs, but got: {names.desc(args)}")
        r = range(*args)
        if len(r) > MAX_LIST:
            raise RaspEvalError(
                f"range of {len(r):,} items is too long (the limit is {MAX_LIST:,})"
            )
        return list(r)
    if name == "zip":
        for i, a in enumerate(args):
            if not isinstance(a, list):
                raise RaspTypeError(
                    f"attempting to zip lists, but {i + 1} -th element is not list: {names.desc(a)}"
                )
        for i, a in enumerate(args):
            if len(a) != len(args[0]):
                raise RaspTypeError(
                    f"attempting to zip lists of length {len(args[0])} , but "
                    f"{i + 1} -th list has length {len(a)}"
                )
        return [list(t) for t in zip(*args, strict=True)]
    (arg,) = args
    if not isinstance(arg, list):
        raise RaspTypeError(f"attempting to compute length of non-list: {names.desc(arg)}")
    return len(arg)
