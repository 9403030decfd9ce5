"""`python -m lm`: the `rasp lm` commands, e.g. under `torchrun -m lm train`."""

from lm.cli import lm

lm(prog_name="python -m lm")
