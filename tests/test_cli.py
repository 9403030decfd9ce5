"""The `rasp` command's and `rasp lm`'s tables of subcommands that live in other modules, and
their `--help`, which imports none of them."""

import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import rasp.cli
from lm.cli import COMMANDS, lm
from rasp.cli import LAZY_COMMANDS, main
from rasp.env import Environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("group", "table"), [(main, LAZY_COMMANDS), (lm, COMMANDS)])
def test_every_lazy_command_is_listed_and_resolves(group, table):
    """A command's module may be a file or a package (`lm.cli`): each one is offered in
    `--help` and imports to the click command of that name."""
    assert sorted(group.available()) == sorted(table)
    help_text = CliRunner().invoke(group, ["--help"]).output
    for name, (target, _summary) in table.items():
        assert f"  {name} " in help_text
        module, attr = target.split(":")
        assert getattr(importlib.import_module(module), attr).name == name


def test_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["lm", "fly"])
    assert result.exit_code == 2 and "No such command 'fly'" in result.output


@pytest.mark.parametrize("args", [["--help"], ["lm", "--help"]])
def test_help_imports_no_torch(args):
    """`rasp --help` and `rasp lm --help` list the commands from their tables: torch (seconds
    to import) is not loaded, in a fresh process."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from rasp.cli import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "heavy = sorted(m for m in ('torch', 'compiler', 'lm.train') "
        "if m in sys.modules)\n"
        "print(json.dumps([result.exit_code, heavy, result.output]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, heavy, output = json.loads(done.stdout)
    assert exit_code == 0 and "Commands:" in output
    assert heavy == []


def test_a_slow_run_ticks_on_the_terminal(monkeypatch):
    """`rasp run` on a long input (sort of 6,000 tokens: 16 s) said nothing until the end."""
    stream = io.StringIO()
    monkeypatch.setattr(rasp.cli, "progress_stream", lambda: stream)
    monkeypatch.setattr(rasp.cli, "TICK_AFTER", 0.05)
    evaluate = Environment.evaluate_batch

    def slow(self, expr, values):
        end = time.monotonic() + 60  # until it ticked (later on a loaded machine)
        while not stream.getvalue() and time.monotonic() < end:
            time.sleep(0.01)
        return evaluate(self, expr, values)

    monkeypatch.setattr(Environment, "evaluate_batch", slow)
    result = CliRunner().invoke(main, ["run", str(ROOT / "examples" / "reverse.rasp"), "-i", "ab"])
    assert result.exit_code == 0 and result.output == 'reverse("ab") = [b, a] (strings)\n'
    ticks = stream.getvalue()
    assert ticks.startswith("\rrunning reverse… ") and ticks.endswith("\r\x1b[K")


def test_compile_means_one_thing():
    """`--compile` meant the RASP compiler (show, draw), torch.compile (lm train) and, negated,
    something else again (lm scale): each now has a name of its own."""
    runner = CliRunner()
    for command in (["show"], ["draw"], ["lm", "train"], ["lm", "scale"]):
        helptext = runner.invoke(main, [*command, "--help"]).output
        assert "--compile " not in helptext and "--no-compile " not in helptext, command
    assert "--layers / --no-layers" in runner.invoke(main, ["show", "--help"]).output
    assert "--torch-compile" in runner.invoke(main, ["lm", "train", "--help"]).output
    assert "--compiled / --no-compiled" in runner.invoke(main, ["lm", "scale", "--help"]).output
