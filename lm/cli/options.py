"""The options and argument types of ``rasp lm``'s commands, and its handling of user errors.

``train`` and ``scale`` share the options that say which program's data to learn and how to
train (``training_options``), read into a ``TrainConfig`` by ``base_config``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


def parse_amount(text: str) -> float:
    """``25k``, ``2M``, ``1e6``, ``3.5e18``: a count or a FLOP budget."""
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


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a user can cause into one line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from compiler import CompileError
        from rasp import RaspError
        from runtime import ModelFileError

        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError, OSError, RaspError, CompileError, ModelFileError) as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper


def training_options(fn: Callable) -> Callable:
    """Options shared by ``train`` and ``scale``: the program's data and how to train."""
    options = [
        click.argument("file", type=click.Path(dir_okay=False)),
        click.option("-e", "--expr", help="The s-op to learn (default: the header's)."),
        click.option("--vocab", help="Input tokens, comma-separated (default: the header's)."),
        click.option("--min-len", type=click.IntRange(1), default=1, show_default=True),
        click.option(
            "--max-len",
            type=click.IntRange(1),
            default=8,
            show_default=True,
            help="Longest training input.",
        ),
        click.option(
            "--examples",
            type=click.IntRange(10),
            default=20_000,
            show_default=True,
            help="Distinct inputs to sample (all of them when fewer exist).",
        ),
        click.option(
            "--long-lengths",
            type=LengthRange(),
            default=None,
            help="Held-out input lengths for length generalisation, e.g. 9-12.",
        ),
        click.option(
            "--long-examples",
            type=click.IntRange(1),
            default=1000,
            show_default=True,
            help="Held-out longer inputs (at most).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1),
            default=64,
            show_default=True,
            help="Sequences per step, over all processes.",
        ),
        click.option("--lr", type=float, default=3e-3, show_default=True),
        click.option(
            "--loss-on",
            type=click.Choice(["outputs", "all"]),
            default="outputs",
            show_default=True,
            help="Score output tokens only, or whole sequences.",
        ),
        click.option("--device", help="cpu, cuda, cuda:1 (default: CUDA when present)."),
        click.option(
            "--torch-compile",
            "compile_mode",
            default="none",
            show_default=True,
            type=click.Choice(["none", "default", "reduce-overhead", "max-autotune"]),
            help="torch.compile mode (GPUs).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(0),
            default=1,
            show_default=True,
            help="CPU threads per run (0: torch's default).",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--position",
            type=click.Choice(["learned", "rope", "none"]),
            default="learned",
            show_default=True,
            help="Positions: learned absolute embeddings, rotary (RoPE) or none (NoPE).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def base_config(kw: dict[str, Any]) -> Any:
    from lm.config import TrainConfig
    from rasp.examples import parse_vocab

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
        progress=not kw["quiet"],
    )
