"""The `rasp` command. With no arguments it starts the REPL; sub-commands do the rest.

Sub-commands from other packages (compiler, runtime, lm) are imported only when used, so
`rasp run` does not pay for importing torch.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from rasp import ir
from rasp.command import LazyGroup, fail, load_or_exit
from rasp.compiled import ticking
from rasp.env import Environment
from rasp.errors import RaspError
from rasp.examples import Header, default_exprs, parse_input_literal, read_header
from rasp.format import format_example_arg, format_matrix, format_sequence, sequence_type
from rasp.parser import parse_recovering
from rasp.source import normalise_input, read_source

# name -> ("module:attribute" of a click command defined elsewhere, its one-line help).
LAZY_COMMANDS = {
    "show": ("rasp.show:show", "Show a program highlighted, each name with its kind and type."),
    "draw": ("rasp.draw:draw", "Draw the computation graph of an s-op (SVG or PNG)."),
    "attention": (
        "rasp.attention_plot:attention",
        "Draw compiled attention patterns beside their RASP selectors (PNG).",
    ),
    "compile": ("compiler.cli:compile_command", "Compile an s-op to transformer weights."),
    "verify": ("compiler.cli:verify", "Check a compiled model against the interpreter."),
    "exec": ("compiler.cli:exec_command", "Run a compiled model file on inputs."),
    "bench": ("runtime.cli:bench", "Measure the runtime: GEMM, attention, forward throughput."),
    "lm": ("lm.cli:lm", "Train language models on program data; perplexity; scaling laws."),
}


class RaspGroup(LazyGroup):
    """The `rasp` group: lazy sub-commands, and a last guard around every command."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; runaway input that Python itself stops (a number past float range,
        nesting past the recursion limit, an allocation past memory) ends in one line."""
        try:
            return super().invoke(ctx)
        except OverflowError as exc:
            fail(f"a number too large to compute with ({exc})")
        except RecursionError:
            fail("the input is nested too deeply to read (past Python's recursion limit)")
        except MemoryError:
            fail("out of memory: the input asks for more than this machine holds")
        except RuntimeError as exc:
            if "memory" not in str(exc):
                raise
            fail(f"out of memory: {str(exc).splitlines()[0]}")


@click.group(
    cls=RaspGroup,
    lazy=LAZY_COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="raspc")
@click.pass_context
def main(ctx: click.Context) -> None:
    """raspc: RASP, the programming language of transformers.

    \b
    rasp                         start the REPL (type :help there)
    rasp run FILE -e EXPR -i abc evaluate an s-op on inputs
    rasp check FILE              report every error in a program
    rasp compile FILE -e NAME    compile to transformer weights
    """
    if ctx.invoked_subcommand is None:
        from rasp.repl_main import run_repl

        run_repl()


def _inputs_for(header: Header, given: tuple[str, ...]) -> list[Any]:
    if given:
        return [parse_input_literal(text) for text in given]
    if header.examples:
        return [ex.input for ex in header.examples]
    return ["hello"]


def input_hint(header: Header) -> str:
    """What inputs a program takes, from its header's first example, for errors on given
    inputs (`-i abc` is three strings; a program of ints wants `-i '[3, 1, 2]'`)."""
    if not header.examples:
        return ""
    first = format_example_arg(header.examples[0].input)
    return f"\n(this program's examples take inputs like {first}: try -i '{first}')"


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-e",
    "--expr",
    "exprs",
    multiple=True,
    help="An expression to evaluate (repeatable). Default: the file's compiled name "
    "from its header, else every s-op it defines.",
)
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    help="An input: plain text (one token per character), or a RASP literal such "
    "as '\"abc\"' or '[3, 1, 2]' (repeatable). Default: the header's examples.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
def run(file: str, exprs: tuple[str, ...], inputs: tuple[str, ...], as_json: bool) -> None:
    """Run a .rasp FILE and print its s-ops evaluated on inputs."""
    program = load_or_exit(file)
    env = program.env
    try:
        values = _inputs_for(program.header, inputs)
        names = list(exprs) or program.default_exprs()
        for expr in names:
            try:
                with ticking(progress_stream(), f"running {expr[:40]}…", delay=TICK_AFTER):
                    outputs = env.evaluate_batch(expr, values)
            except RaspError as err:
                if not inputs:
                    raise
                fail(f"{err}{input_hint(program.header)}")
            node = env.expression(expr)
            for x, out in zip(values, outputs, strict=True):
                click.echo(_render(expr, node, x, out, as_json))
    except RaspError as err:
        fail(err)


TICK_AFTER = 2.0  # seconds an evaluation runs before a line says it still does


def progress_stream() -> Any:
    """Where a slow evaluation ticks: stderr when a person watches it, else nowhere."""
    return sys.stderr if sys.stderr.isatty() else None


def _render(expr: str, node: Any, x: Any, out: Any, as_json: bool) -> str:
    if as_json:
        record: dict[str, Any] = {"expr": expr, "input": x, "output": out}
        if isinstance(node, ir.SOp):
            record["type"] = sequence_type(out)
        return json.dumps(record)
    if isinstance(node, ir.Selector):
        return f"{expr}({format_example_arg(x)}) =\n" + format_matrix(
            list(normalise_input(x)), out, indent=""
        )
    if isinstance(node, ir.SOp):
        return f"{expr}({format_example_arg(x)}) = {format_sequence(out)}"
    return f"{expr} = {out!r}"


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def check(file: str) -> None:
    """Parse and run FILE, reporting every error found (exit status 1 if any)."""
    env = Environment(keep_going=True)  # a loaded file's errors are all reported
    errors: list[RaspError] = []
    try:
        source = read_source(file)
        statements, syntax_errors = parse_recovering(source, file)
    except RaspError as err:
        fail(err)
    try:
        header: Header | None = read_header(file, source)
    except RaspError as err:
        header = None
        errors.append(err)
    errors += syntax_errors
    for stmt in statements:
        try:
            errors += env.execute(stmt, file).errors
        except RaspError as err:
            errors.append(err)
    if not errors and header is not None:
        for x in _inputs_for(header, ()):
            for expr in default_exprs(header, env):
                try:
                    env.evaluate(expr, x)
                except RaspError as err:
                    errors.append(err)
    for err in errors:
        click.echo(f"error: {err}", err=True)
    if errors:
        click.echo(f"{file}: {len(errors)} error(s)", err=True)
        sys.exit(1)
    click.echo(f"{file}: ok")


if __name__ == "__main__":  # pragma: no cover
    main()
