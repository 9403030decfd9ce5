"""`rasp lm eval`: a checkpoint's perplexity, n-gram baseline and exact match."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lm.checkpoint import load_checkpoint
from lm.cli.options import json_option, user_errors
from lm.config import load_data
from lm.metrics_table import eval_rows, rename_ngram, table
from lm.train import evaluate
from runtime.device import pick_device


@click.command(name="eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--device", help="cpu or cuda (default: CUDA when present).")
@click.option(
    "--ngram",
    type=click.IntRange(1, 8),
    default=3,
    show_default=True,
    help="Order of the Markov baseline.",
)
@json_option("the metrics")
@user_errors
def eval_command(checkpoint: str, device: str | None, ngram: int, as_json: bool) -> None:
    """Perplexity (outputs and whole sequences), an n-gram baseline and exact match of a
    checkpoint written by `rasp lm train`, on its held-out splits."""
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
