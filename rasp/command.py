"""What every command shares: one error line on stderr and exit status 1 (`fail`), and a
program file loaded or that line (`load_or_exit`).

Its own module so that the commands of every package (`rasp`, `rasp compile`, `rasp lm`)
share it without importing the `rasp` command itself.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from rasp import examples
from rasp.errors import RaspError


def fail(err: RaspError | str) -> NoReturn:
    """Print one clear message (with the source line and a caret when known) and exit 1."""
    click.echo(f"error: {err}", err=True)
    sys.exit(1)


def load_or_exit(path: str) -> examples.Program:
    """`examples.load_program`, any error (header lines included) ending the command."""
    try:
        return examples.load_program(path)
    except RaspError as err:
        fail(err)


def output_name(expr: str, suffix: str) -> str:
    """The default output file of a drawing of `expr`: its text with every character that is
    not a letter, a digit, `_` or `-` made `_` (safe in any shell), then `suffix`."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in expr) + suffix
