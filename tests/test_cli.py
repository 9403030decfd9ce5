"""The `rasp` command's table of subcommands that live in other packages."""

import importlib

from click.testing import CliRunner

from rasp.cli import LAZY_COMMANDS, LazyGroup, main


def test_every_lazy_command_is_listed_and_resolves():
    """A command's module may be a file or a package (`lm.cli`): each one is offered in
    `rasp --help` and imports to the click command it names."""
    assert sorted(LazyGroup._available()) == sorted(LAZY_COMMANDS)
    help_text = CliRunner().invoke(main, ["--help"]).output
    for name, (target, _summary) in LAZY_COMMANDS.items():
        assert f"  {name} " in help_text
        module, attr = target.split(":")
        assert getattr(importlib.import_module(module), attr).name is not None
