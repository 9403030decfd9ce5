"""`rasp lm`: train language models on a program's data, measure perplexity, fit scaling laws.

User errors (a missing file, a bad program, an inconsistent option) exit 1 with one line on
stderr; bad usage exits 2 (click). `python -m lm` runs the same group, which is how
`torchrun --nproc_per_node K -m lm train ...` trains on K processes or GPUs.

Each command is a module of its own (`train`, `evaluate`, `scale`, their shared options
in `options`), imported when it runs: `rasp lm --help` lists them without importing torch.
"""

from __future__ import annotations

import click

from rasp.command import LazyGroup

# name -> ("module:attribute", its one-line help in `rasp lm --help`), as rasp.cli.LAZY_COMMANDS.
COMMANDS = {
    "train": ("lm.cli.train:train", "Train a transformer on a program's inputs and outputs."),
    "eval": (
        "lm.cli.evaluate:eval_command",
        "Perplexity, an n-gram baseline and exact match of a checkpoint.",
    ),
    "scale": (
        "lm.cli.scale:scale",
        "Sweep sizes x budgets, fit scaling laws, compare with the compiler.",
    ),
}


@click.group(
    name="lm",
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def lm() -> None:
    """Language models that learn RASP programs: training, perplexity and scaling laws."""
