"""`rasp lm train`: train one model on a program's data, resuming from its checkpoint."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import torch.distributed as dist

from lm.cli.options import (
    Amount,
    base_config,
    int_option,
    json_option,
    training_options,
    user_errors,
)
from lm.metrics_table import table, train_rows
from lm.model import ModelConfig
from lm.train import train as run_training


@click.command()
@training_options
@int_option("--layers", default=2)
@int_option("--d-model", default=64)
@int_option("--heads", default=4)
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
@json_option("the metrics")
@user_errors
def train(**kw: Any) -> None:
    """Train a causal transformer on FILE's program: BOS input SEP output EOS.

    Runs on K processes or GPUs with: torchrun --nproc_per_node K -m lm train FILE ...
    """
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
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, the main process reports
        return
    metrics.pop("loss_curve")
    if kw["as_json"]:
        click.echo(json.dumps(metrics, indent=2))
    else:
        click.echo(table(train_rows(metrics)))
        click.echo(f"checkpoint {config.out}")


def _leave_process_group() -> None:
    """Under torchrun, `train` joined a process group; leave it before the process exits."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
