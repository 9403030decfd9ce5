"""What every command shares: one error line on stderr and exit status 1 (`fail`), a
program file loaded or that line (`load_or_exit`), and groups whose commands are imported
only when used (`LazyGroup`).

Its own module so that the commands of every package (`rasp`, `rasp compile`, `rasp lm`)
share it without importing the `rasp` command itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, NoReturn

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


class LazyGroup(click.Group):
    """A click group whose commands live in other modules, imported on first use: `lazy` maps
    a name to ("module:attribute", its one-line help), and `--help` lists them from that table,
    so it imports none of them (torch alone takes seconds to import)."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.available()])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        if name not in self.available():
            return None
        module, attr = self.lazy[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(60)) for name, cmd in self.commands.items()]
        rows += [(name, self.lazy[name][1]) for name in self.available()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def available(self) -> list[str]:
        """Commands whose module is installed, found without importing it (a package may be
        left out of an install)."""
        found = []
        for name, (target, _help) in self.lazy.items():
            top, _, rest = target.split(":")[0].partition(".")
            spec = importlib.util.find_spec(top)
            if spec is None or spec.origin is None:
                continue
            module = Path(spec.origin).parent / rest.replace(".", "/")
            if module.with_suffix(".py").is_file() or (module / "__init__.py").is_file():
                found.append(name)
        return found
