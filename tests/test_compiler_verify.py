"""Verification names the first stored value that differs."""

from __future__ import annotations

import compiler
from compiler import verify as check
from compiler.testing import env_with


def test_mismatch_names_the_first_differing_node(monkeypatch):
    prog = compiler.compile(
        env_with("w = selector_width(select(tokens, tokens, ==)); v = w + 1;"),
        "v",
        vocab=["a", "b"],
        max_len=4,
    )
    # Break the width MLP's output on purpose: the diagnosis must point at it.
    entry = next(e for e in prog.manifest.layout if e.label == "w")
    mlp = prog.model.blocks[0].mlp
    import torch

    with torch.no_grad():
        mlp.proj.weight[entry.dims[0] : entry.dims[1]] *= 0.5
    report = check.verify(prog, prog.node, [["a", "a"]], True)
    assert not report.ok and report.first.node == "w"
    assert "w" in report.first.describe()
