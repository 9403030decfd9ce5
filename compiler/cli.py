"""`rasp compile`, `rasp exec` and `rasp verify` (loaded lazily by rasp.cli).

User errors (a program that does not compile, a bad model file, a bad input) exit with status
1 and one message on stderr; bad usage exits 2 (click); never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from compiler.budget import DEFAULT_LIMIT
from rasp.command import fail
from rasp.env import Environment
from rasp.errors import RaspError
from rasp.examples import (
    MAX_LEN,
    SpecMissing,
    compile_spec,
    parse_input_literal,
    parse_vocab,
    read_header,
)


def _spec(
    file: str, expr: str | None, vocab: str | None, max_len: int | None
) -> tuple[str, list[Any], int]:
    """-e/--vocab/--max-len, defaulting to the file's `# compile:` header."""
    tokens = parse_vocab(vocab) if vocab is not None else None
    if tokens == []:
        raise click.UsageError("--vocab needs at least one token, e.g. --vocab a,b,c")
    try:
        spec = compile_spec(read_header(file), expr, tokens, max_len)
    except RaspError as err:
        fail(err)
    except SpecMissing as err:
        raise click.UsageError(f"{err} (the file has no `# compile:` header giving them)") from None
    return spec.expr, spec.vocab, spec.max_len


def _compile(
    file: str,
    expr: str,
    vocab: list[Any],
    max_len: int,
    causal: bool = False,
    time_limit: float | None = None,
):
    """Compile, showing progress on stderr after 2 s; Ctrl-C ends it with one line."""
    import compiler
    from compiler.budget import StderrProgress

    env = Environment()
    progress = StderrProgress()
    try:
        env.run_file(file)
        return compiler.compile(
            env,
            expr,
            vocab=vocab,
            max_len=max_len,
            causal=causal,
            time_limit=time_limit,
            progress=progress,
        )
    except RaspError as err:
        progress.close()
        fail(err)
    except KeyboardInterrupt:
        progress.close()
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    finally:
        progress.close()


def _time_limit(f):
    return click.option(
        "--time-limit",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="CPU seconds a compile may take before it is refused.",
    )(f)


@click.command("compile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-e", "--expr", help="The s-op to compile (default: the file's header).")
@click.option("--vocab", help="Comma-separated tokens, e.g. a,b,c or 1,2,3.")
@click.option("--max-len", type=click.IntRange(1, MAX_LEN), help="Longest input.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the model here.")
@click.option("--causal", is_flag=True, help="Compile a causal model (needs causal selectors).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and stats as JSON.")
@_time_limit
def compile_command(
    file: str,
    expr: str | None,
    vocab: str | None,
    max_len: int | None,
    output: str | None,
    causal: bool,
    as_json: bool,
    time_limit: float,
) -> None:
    """Compile an s-op of FILE to transformer weights; print the layer-by-layer plan."""
    expr, vocab_list, max_len = _spec(file, expr, vocab, max_len)
    prog = _compile(file, expr, vocab_list, max_len, causal, time_limit)
    if output:
        try:
            prog.save(output)
        except OSError as err:
            fail(f"cannot write {output}: {err.strerror or err}")
    if as_json:
        from compiler import report

        m = prog.manifest
        click.echo(
            json.dumps(
                {
                    "expr": expr,
                    "stats": prog.stats,
                    "plan": report.plan_json(m),
                    "output": m.to_json()["output"],
                    "compile_seconds": m.compile_seconds,
                    "file": output,
                }
            )
        )
        return
    click.echo(prog.plan_text())
    if output:
        click.echo(f"wrote {output}")


@click.command("exec")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    required=True,
    help="An input: plain text (one token per character) or a literal like "
    "'[3, 1, 2]' (repeatable).",
)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def exec_command(model: str, inputs: tuple[str, ...], device: str, as_json: bool) -> None:
    """Run a compiled MODEL file on inputs."""
    import compiler
    import runtime

    try:
        prog = compiler.load(model, device=device)
    except (runtime.ModelFileError, ValueError) as err:
        fail(str(err))
    for text in inputs:
        try:
            x = parse_input_literal(text)
            if isinstance(x, str) and isinstance(prog.vocab[0], int) and "," not in x:
                x = [int(c) if c.isdigit() else c for c in x]
            out = prog.run(x)
        except (RaspError, ValueError) as err:
            fail(str(err))
        if as_json:
            click.echo(json.dumps({"input": x, "output": out}))
        else:
            click.echo(f"{x!r} -> {out!r}")


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-e", "--expr", help="The s-op to compile (default: the file's header).")
@click.option("--vocab", help="Comma-separated tokens.")
@click.option("--max-len", type=click.IntRange(1, MAX_LEN), help="Longest input.")
@click.option(
    "--samples",
    type=click.IntRange(1),
    default=10_000,
    show_default=True,
    help="Random inputs when there are too many to try all.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--device", default="cpu", show_default=True, help="Where the model runs.")
@_time_limit
def verify(
    file: str,
    expr: str | None,
    vocab: str | None,
    max_len: int | None,
    samples: int,
    seed: int,
    as_json: bool,
    device: str,
    time_limit: float,
) -> None:
    """Compile FILE's s-op and compare the model with the interpreter on many inputs."""
    import runtime
    from compiler import verify as check

    expr, vocab_list, max_len = _spec(file, expr, vocab, max_len)
    prog = _compile(file, expr, vocab_list, max_len, time_limit=time_limit)
    try:
        prog.model.to(runtime.pick_device(device))
    except ValueError as err:
        fail(str(err))
    inputs, exhaustive = check.inputs_for(vocab_list, max_len, samples=samples, seed=seed)
    report = check.verify(prog, prog.node, inputs, exhaustive)
    how = "all" if exhaustive else "sampled"
    first = report.first  # the first mismatch, kept whenever there is one (not report.ok)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "expr": expr,
                    "ok": report.ok,
                    "checked": report.checked,
                    "exhaustive": exhaustive,
                    "skipped": report.skipped,
                    "mismatches": report.mismatches,
                    "model_s": report.model_s,
                    "interpreter_s": report.interpreter_s,
                    "model_cpu_s": report.model_cpu_s,
                    "interpreter_cpu_s": report.interpreter_cpu_s,
                    "first": None
                    if first is None
                    else {
                        "input": first.input,
                        "expected": first.expected,
                        "actual": first.actual,
                        "node": first.node,
                        "where": first.where,
                    },
                },
                default=repr,
            )
        )
    elif report.ok:
        click.echo(
            f"ok: {report.checked:,} inputs ({how}, lengths 1..{max_len}) give the "
            f"interpreter's output"
            + (
                f"; {report.skipped:,} inputs on which the program raises skipped"
                if report.skipped
                else ""
            )
        )
        click.echo(report.throughput())
    if first is not None:
        if not as_json:
            click.echo(
                f"error: {report.mismatches:,} of {report.checked:,} inputs differ; "
                f"{first.describe()}",
                err=True,
            )
        sys.exit(1)
