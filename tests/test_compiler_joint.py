"""A selector over several s-ops on one side, with no additive scores: one table over the
joint values. Parts that are functions of the position (or token) alone join as one embedded
tuple, a value per position, instead of an MLP over every combination of their values."""

from __future__ import annotations

import compiler
from compiler.testing import assert_exact, env_with

NEAR = (
    "near = select(indices, indices, ==);"
    "for d in [1, 2] {"
    "  near = near or select(indices, indices + d, ==) or select(indices, indices - d, ==);"
    "}"
    "r = selector_width(near and select(tokens, tokens, ==));"
)


def test_an_or_of_offsets_and_a_token_match_joins_by_position():
    """|i - j| <= 2 and the same token: the queries read indices, indices +- 1, +- 2 and
    tokens; refused at max_len 16 before (16^4 x 3 combinations for an MLP), now one
    position tuple (16 values) x 3 tokens."""
    env = env_with(NEAR)
    prog = compiler.compile(env, "r", vocab=["a", "b", "e"], max_len=16)
    assert_exact(prog, ["a", "b", "e"], 16)
    joints = [
        b["hidden"]
        for layer in compiler.report.plan_json(prog.manifest)
        for b in layer["blocks"]
        if b["role"] == "MLP (joint one-hot)"
    ]
    assert joints and max(joints) <= 2 * 17 * 3  # two units a step over (position, token)


def test_position_functions_alone_join_without_an_mlp():
    env = env_with(
        "s = select(indices, indices + 1, ==) or select(indices, indices - 1, ==);"
        "t = s or select(indices, length - indices - 1, ==);"
        "w = selector_width(t);"
    )
    prog = compiler.compile(env, "w", vocab=["a"], max_len=12)
    assert_exact(prog, ["a"], 12)
