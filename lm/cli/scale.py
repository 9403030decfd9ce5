"""`rasp lm scale`: a sweep of model sizes x token budgets, its scaling-law fits and plots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lm import scaling
from lm.cli.options import (
    Amount,
    base_config,
    choice_option,
    int_option,
    json_option,
    parse_amount,
    parse_list,
    training_options,
    user_errors,
)
from lm.plots import plot


@click.command()
@training_options
@click.option(
    "--budget",
    type=Amount(),
    default=None,
    help="Compute budget C in FLOPs for N_opt and D_opt (default: the largest swept "
    "compute; a budget outside the swept range is reported as an extrapolation).",
)
@int_option(
    "--bootstrap",
    "n_boot",
    low=0,
    default=200,
    help="Bootstrap resamples for the fits' intervals (0: none).",
)
@click.option(
    "--sizes",
    default=scaling.DEFAULT_SIZES,
    show_default=True,
    callback=lambda ctx, param, value: parse_list(value, scaling.parse_size),
    help="Model sizes LAYERSxD_MODEL[xHEADS], comma-separated.",
)
@click.option(
    "--seeds",
    callback=lambda ctx, param, value: None if value is None else parse_list(value, int),
    help="Seeds per grid point (data split and initialisation), comma-separated, pooled in "
    "the fit (default: --seed).",
)
@click.option(
    "--address",
    help="Ray cluster to run the sweep on (e.g. auto, ray://host:10001); default: this machine.",
)
@click.option(
    "--tokens",
    "token_list",
    default=scaling.DEFAULT_TOKENS,
    show_default=True,
    callback=lambda ctx, param, value: parse_list(value, lambda t: int(parse_amount(t))),
    help="Token budgets D, comma-separated.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    help="Directory for results, checkpoints and plots (default: runs/scale-NAME).",
)
@int_option(
    "-j", "--jobs", default=None, help="Runs trained at once (default: 2 on a CPU, 1 on a GPU)."
)
@choice_option(
    "--fit-on",
    choices=("outputs", "sequence"),
    help="Fit the validation NLL of outputs or whole sequences.",
)
@click.option(
    "--compiled/--no-compiled",
    default=True,
    show_default=True,
    help="Compile the program with the RASP compiler to compare its size.",
)
@json_option("the report")
@user_errors
def scale(**kw: Any) -> None:
    """Sweep model sizes x token budgets x seeds on FILE's program (one Ray task per run), fit
    L = E + A/N^alpha + B/D^beta (E free and E = 0, with bootstrap intervals), find the least
    training that reaches 99% exact match, and compare with the compiled model. Resumable."""
    base = base_config(kw)
    sizes = [replace(m, position=kw["position"]) for m in kw["sizes"]]
    tokens = kw["token_list"]
    if len(sizes) * len(tokens) < 5:
        raise ValueError("the law has 5 constants: give at least 5 size x budget combinations")
    out = kw["out"] or str(Path("runs") / f"scale-{Path(kw['file']).stem}")
    config = scaling.SweepConfig(
        base=base,
        sizes=sizes,
        token_budgets=tokens,
        seeds=kw["seeds"] or [base.seed],
        out_dir=out,
        address=kw["address"],
        jobs=kw["jobs"] or scaling.default_jobs(),
        fit_on=kw["fit_on"],
    )
    log = (
        (lambda _msg: None)
        if kw["as_json"] or kw["quiet"]
        else (lambda msg: click.echo(msg, err=True))
    )
    results = scaling.sweep(config, log=log)
    rep = scaling.report(
        config, results, kw["budget"], compile_model=kw["compiled"], n_boot=kw["n_boot"], log=log
    )
    log("plotting")
    plots = plot(rep, out)
    (Path(out) / "report.json").write_text(json.dumps(rep.as_dict(), indent=2))
    (Path(out) / "report.txt").write_text(rep.text() + "\n")
    if kw["as_json"]:
        click.echo(json.dumps(rep.as_dict()))
        return
    click.echo(rep.text())
    click.echo(f"\nresults   {Path(out) / 'results.jsonl'}")
    for path in plots:
        click.echo(f"plot      {path}")
