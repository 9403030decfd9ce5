"""``rasp lm``: train language models on a program's data, measure perplexity, fit scaling laws.

User errors (a missing file, a bad program, an inconsistent option) exit 1 with one line on
stderr; bad usage exits 2 (click). ``python -m lm`` runs the same group, which is how
``torchrun --nproc_per_node K -m lm train ...`` trains on K processes or GPUs.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lm.cli.options import (
    Amount,
    base_config,
    parse_amount,
    parse_list,
    training_options,
    user_errors,
)
from lm.scaling import DEFAULT_SIZES, DEFAULT_TOKENS, parse_size


def _leave_process_group() -> None:
    """Under torchrun, ``train`` joined a process group; leave it before the process exits."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@click.group(name="lm", context_settings={"help_option_names": ["-h", "--help"]})
def lm() -> None:
    """Language models that learn RASP programs: training, perplexity and scaling laws."""


@lm.command()
@training_options
@click.option("--layers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--d-model", type=click.IntRange(1), default=64, show_default=True)
@click.option("--heads", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--tokens",
    type=Amount(),
    default="1M",
    show_default=True,
    help="Training budget D in tokens (25k, 2M, 1e9).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    help="Checkpoint (default: runs/NAME.safetensors); resumed from when it exists.",
)
@click.option("--no-resume", is_flag=True, help="Start afresh even if the checkpoint exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@user_errors
def train(**kw: Any) -> None:
    """Train a causal transformer on FILE's program: BOS input SEP output EOS.

    Runs on K processes or GPUs with: torchrun --nproc_per_node K -m lm train FILE ...
    """
    from lm.metrics_table import table, train_rows
    from lm.model import ModelConfig
    from lm.train import train as run_training

    model = ModelConfig(
        n_layers=kw["layers"], d_model=kw["d_model"], n_heads=kw["heads"], position=kw["position"]
    )
    config = replace(
        base_config(kw),
        model=model,
        tokens=int(kw["tokens"]),
        out=kw["out"] or str(Path("runs") / f"{Path(kw['file']).stem}.safetensors"),
        resume=not kw["no_resume"],
    )
    metrics = run_training(config)
    _leave_process_group()
    if not _is_main_process():
        return
    metrics.pop("loss_curve")
    if kw["as_json"]:
        click.echo(json.dumps(metrics, indent=2))
    else:
        click.echo(table(train_rows(metrics)))
        click.echo(f"checkpoint {config.out}")


@lm.command(name="eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--device", help="cpu or cuda (default: CUDA when present).")
@click.option(
    "--ngram",
    type=click.IntRange(1, 8),
    default=3,
    show_default=True,
    help="Order of the Markov baseline.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@user_errors
def eval_command(checkpoint: str, device: str | None, ngram: int, as_json: bool) -> None:
    """Perplexity (outputs and whole sequences), an n-gram baseline and exact match of a
    checkpoint written by `rasp lm train`, on its held-out splits."""
    from lm.checkpoint import load_checkpoint
    from lm.config import load_data
    from lm.metrics_table import eval_rows, rename_ngram, table
    from lm.train import evaluate
    from runtime.device import pick_device

    if not Path(checkpoint).is_file():
        raise ValueError(f"{checkpoint}: no such file")
    dev = pick_device(device)
    model, _, config, state = load_checkpoint(checkpoint, dev)
    data = load_data(config, sources=state.get("sources") or None)
    metrics = evaluate(model, data, device=dev, ngram_order=ngram)
    if as_json:
        click.echo(json.dumps({"step": state["step"], "tokens": state["tokens"], **metrics}))
        return
    click.echo(
        f"checkpoint {checkpoint}: {config.program} -e {config.expr}, step {state['step']}, "
        f"{state['tokens']} tokens"
    )
    click.echo(table(eval_rows({**metrics, **rename_ngram(metrics, ngram)}, ngram)))


@lm.command()
@training_options
@click.option(
    "--budget",
    type=Amount(),
    default=None,
    help="Compute budget C in FLOPs for N_opt and D_opt (default: the largest swept "
    "compute; a budget outside the swept range is reported as an extrapolation).",
)
@click.option(
    "--bootstrap",
    "n_boot",
    type=click.IntRange(0),
    default=200,
    show_default=True,
    help="Bootstrap resamples for the fits' intervals (0: none).",
)
@click.option(
    "--sizes",
    default=DEFAULT_SIZES,
    show_default=True,
    callback=lambda ctx, param, value: parse_list(value, parse_size),
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
    default=DEFAULT_TOKENS,
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
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Runs trained at once (default: 2 on a CPU, 1 on a GPU).",
)
@click.option(
    "--fit-on",
    type=click.Choice(["outputs", "sequence"]),
    default="outputs",
    show_default=True,
    help="Fit the validation NLL of outputs or whole sequences.",
)
@click.option(
    "--compiled/--no-compiled",
    default=True,
    show_default=True,
    help="Compile the program with the RASP compiler to compare its size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@user_errors
def scale(**kw: Any) -> None:
    """Sweep model sizes x token budgets x seeds on FILE's program (one Ray task per run), fit
    L = E + A/N^alpha + B/D^beta (E free and E = 0, with bootstrap intervals), find the least
    training that reaches 99% exact match, and compare with the compiled model. Resumable."""
    from lm import scaling
    from lm.plots import plot

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
