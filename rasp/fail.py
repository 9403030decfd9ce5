"""How every command ends on a user error: one line on stderr, exit status 1.

Its own module so that the commands of every package (`rasp`, `rasp compile`, `rasp lm`)
share it without importing the `rasp` command itself.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from .errors import RaspError


def fail(err: RaspError | str) -> NoReturn:
    """Print one clear message (with the source line and a caret when known) and exit 1."""
    click.echo(f"error: {err}", err=True)
    sys.exit(1)
