"""Idioms compiled whole: selector_width at full length, prefix counts as widths."""

from __future__ import annotations

import os

import compiler
import rasp
from compiler import verify as check
from compiler.testing import ROOT, compile_exact, env_with


def test_selector_width_at_full_length():
    env = rasp.Environment()
    env.run(open(os.path.join(ROOT, "examples", "hist.rasp")).read())
    prog = compiler.compile(env, "hist", vocab=["a", "b", "c"], max_len=24)
    assert prog.run(["a"] * 24) == [24] * 24
    assert prog.run(["a", "b"] * 12) == [12] * 24


def test_prefix_counts_compile_as_widths():
    """round(frac * (indices + 1)) of a 0/1 s-op counts ones so far: a width head and a small
    MLP, not an MLP over every (fraction, index) pair, which at max_len 32 would not fit."""
    src = (
        'c = round(aggregate(select(indices, indices, <=), indicator(tokens == "a"))'
        " * (indices + 1));"
    )
    prog = compile_exact(src, "c", ["a", "b"], 5)
    assert prog.run("abaa") == [1, 1, 2, 3]
    big = compiler.compile(env_with(src), "c", vocab=["a", "b"], max_len=32)
    roles = [b.role for b in big.manifest.layout if b.layer >= 0]
    assert roles == ["attention (width, BOS share)", "MLP (width)"]
    inputs, _ = check.inputs_for(["a", "b"], 32, samples=300)
    assert check.verify(big, big.node, inputs, False).ok
    # Not 0/1: the general (fraction, index) MLP, still exact.
    compile_exact(
        "c = round(aggregate(select(indices, indices, <=), tokens_int) * (indices + 1));",
        "c",
        [0, 1, 2],
        4,
    )


def test_counts_of_earlier_positions_compile_as_widths():
    """round(frac of the earlier positions * indices), as the paper's long addition writes
    it: the width of the earlier ones (0 at the first position, where nothing is earlier)."""
    src = 'c = round(aggregate(select(indices, indices, <), indicator(tokens == "a")) * indices);'
    prog = compile_exact(src, "c", ["a", "b"], 6)
    assert prog.run("abaab") == [0, 1, 1, 2, 3]
    big = compiler.compile(env_with(src), "c", vocab=["a", "b"], max_len=64)
    roles = [b.role for b in big.manifest.layout if b.layer >= 0]
    assert roles == ["attention (width, BOS share)", "MLP (width)"]


def test_a_width_written_as_key_0s_reciprocal_share_is_a_width():
    # the paper's style: position 0 joins every row; round(1 / its share) is the width
    prog = compile_exact(
        "def w(sel) { sel = sel or select(indices, 0, ==);"
        " return round(1 / aggregate(sel, indicator(indices == 0))) - 1; }"
        "h = w(select(tokens, tokens, ==));",
        "h",
        ["a", "b"],
        6,
    )
    assert prog.stats["layers"] == 1


def test_the_library_count_is_a_width_over_every_key():
    prog = compile_exact('n = count(tokens, "a");', "n", ["a", "b"], 6)
    assert [b.role for b in prog.manifest.layout if b.layer >= 0] == [
        "attention (width, BOS share)",
        "MLP (width)",
    ]
    big = compiler.compile(env_with('n = count(tokens, "a");'), "n", vocab=["a", "b"], max_len=64)
    assert big.run("ab" * 32) == [32] * 64
