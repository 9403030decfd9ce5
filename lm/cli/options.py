"""The options and argument types of `rasp lm`'s commands, and its handling of user errors.

`train` and `scale` share the options that say which program's data to learn and how to
train (`training_options`), read into a `TrainConfig` by `base_config`. Imported only by
the commands (it loads torch), never by `rasp lm --help`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lm.config import TrainConfig
from rasp.errors import RaspError
from rasp.examples import parse_vocab
from runtime import ModelFileError

_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


def parse_amount(text: str) -> float:
    """`25k`, `2M`, `1e6`, `3.5e18`: a count or a FLOP budget."""
    t = text.strip().lower()
    scale = _SUFFIX.get(t[-1:], 1.0)
    number = t[:-1] if t[-1:] in _SUFFIX else t
    try:
        value = float(number) * scale
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (forms: 25k, 2M, 1e6)") from None
    if not value > 0:
        raise click.BadParameter(f"{text!r} must be positive")
    return value


class Amount(click.ParamType):
    name = "AMOUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        return value if isinstance(value, int | float) else parse_amount(value)


class LengthRange(click.ParamType):
    name = "LO-HI"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, tuple):
            return value
        lo, sep, hi = str(value).partition("-")
        try:
            return (int(lo), int(hi if sep else lo))
        except ValueError:
            self.fail(f"{value!r} is not a length range such as 9-12", param, ctx)


def parse_list(text: str, parse: Callable[[str], Any]) -> list[Any]:
    """A comma-separated option; a bad item is a usage error (exit 2)."""
    try:
        items = [parse(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if not items:
        raise click.BadParameter("the list is empty")
    return items


def int_option(*decls: str, default: int | None, low: int = 1, help: str | None = None):
    """An integer option of at least `low`, its default (if any) shown in --help."""
    return click.option(
        *decls,
        type=click.IntRange(low),
        default=default,
        show_default=default is not None,
        help=help,
    )


def choice_option(*decls: str, choices: tuple[str, ...], help: str | None = None):
    """An option that takes one of `choices`, the first by default."""
    return click.option(
        *decls, type=click.Choice(choices), default=choices[0], show_default=True, help=help
    )


def json_option(what: str):
    """`--json`: print `what` as JSON instead of a table, with no progress bars."""
    return click.option(
        "--json", "as_json", is_flag=True, help=f"Print {what} as JSON (no progress bars)."
    )


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a user can cause into one line and exit status 1 (a CompileError is a
    RaspError)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError, OSError, RaspError, ModelFileError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper


def training_options(fn: Callable) -> Callable:
    """Options shared by `train` and `scale`: the program's data and how to train."""
    options = [
        click.argument("file", type=click.Path(dir_okay=False)),
        click.option("-e", "--expr", help="The s-op to learn (default: the header's)."),
        click.option("--vocab", help="Input tokens, comma-separated (default: the header's)."),
        int_option("--min-len", default=1),
        int_option("--max-len", default=8, help="Longest training input."),
        int_option(
            "--examples",
            low=10,
            default=20_000,
            help="Distinct inputs to sample (all of them when fewer exist).",
        ),
        click.option(
            "--long-lengths",
            type=LengthRange(),
            default=None,
            help="Held-out input lengths for length generalisation, e.g. 9-12.",
        ),
        int_option("--long-examples", default=1000, help="Held-out longer inputs (at most)."),
        int_option("--batch-size", default=64, help="Sequences per step, over all processes."),
        click.option("--lr", type=float, default=3e-3, show_default=True),
        choice_option(
            "--loss-on",
            choices=("outputs", "all"),
            help="Score output tokens only, or whole sequences.",
        ),
        click.option("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)."),
        choice_option(
            "--torch-compile",
            "compile_mode",
            choices=("none", "default", "reduce-overhead", "max-autotune"),
            help="torch.compile mode (GPUs).",
        ),
        int_option("--threads", low=0, default=1, help="CPU threads per run (0: torch's default)."),
        click.option("--seed", type=int, default=0, show_default=True),
        choice_option(
            "--position",
            choices=("learned", "rope", "none"),
            help="Positions: learned absolute embeddings, rotary (RoPE) or none (NoPE).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def base_config(kw: dict[str, Any]) -> TrainConfig:
    """The `TrainConfig` the shared options describe."""
    if not Path(kw["file"]).is_file():
        raise ValueError(f"{kw['file']}: no such file")
    return TrainConfig(
        program=kw["file"],
        expr=kw["expr"],
        vocab=parse_vocab(kw["vocab"]) if kw["vocab"] else None,
        min_len=kw["min_len"],
        max_len=kw["max_len"],
        n_examples=kw["examples"],
        long_range=kw["long_lengths"],
        n_long=kw["long_examples"],
        batch_size=kw["batch_size"],
        lr=kw["lr"],
        loss_on=kw["loss_on"],
        seed=kw["seed"],
        device=kw["device"],
        torch_compile=kw["compile_mode"],
        threads=kw["threads"] or None,
        # --json keeps stderr quiet too: a caller parsing the JSON wants nothing else.
        progress=not (kw["quiet"] or kw["as_json"]),
    )
