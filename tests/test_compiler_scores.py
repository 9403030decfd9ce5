"""Attention scores: composite selectors, the quadratic score for ==, the float32 bound of q.k."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler import verify as check
from compiler.scores import truth_table
from compiler.testing import assert_exact, compile_exact, env_with
from rasp import ir


@pytest.mark.parametrize(
    "sel",
    [
        "select(tokens, tokens, ==) and select(indices, indices, <)",
        "select(tokens, tokens, ==) or select(indices, 0, ==)",
        "not select(tokens, tokens, ==)",
        "select(tokens, tokens, <) or (select(tokens, tokens, ==) and select(indices, indices, <))",
        'not (select(indices, indices, <) and select(tokens, "a", ==))',
    ],
)
def test_composite_selectors(sel):
    compile_exact(f"s = {sel};", "selector_width(s)", ["a", "b", "c"], 4)
    compile_exact(f"s = {sel};", "aggregate(s, indices + 1)", ["a", "b"], 4)


def test_sort_unique_keeps_the_residual_narrow_and_exact_with_repeated_keys():
    """Repeated tokens give repeated ranks, so a query can select several keys: their mean
    is exact without equal weights, which lets == use the 3-dimensional quadratic score.
    Whether one key or several were selected decides the type (3 or 3.0): a width head with
    the same quadratic score tells it, as its float error need only keep 0, 1 and 2+ keys
    apart (see numtype.share_points)."""
    src = (
        "r = selector_width(select(tokens_int, tokens_int, <));"
        "s = aggregate(select(r, indices, ==), tokens_int);"
    )
    prog = compile_exact(src, "s", [0, 1, 2, 3, 4], 5)
    got = prog.run([3, 3, 1])
    assert got == [1, 3.0, 0] and [type(v) for v in got] == [int, float, int]
    n = 32
    big = compiler.compile(env_with(src), "s", vocab=list(range(n)), max_len=n)
    assert big.stats["d_model"] <= 0.5 * 133 and big.stats["params"] <= 0.25 * 81_000
    assert big.run([0, 1, 1, 31]) == [0, 1, 0, 31]  # snapped to values, no float noise
    inputs = [[1, 1, 1], [31] * n, [0] * n, list(range(n))[::-1], [5, 0] * (n // 2)]
    assert check.verify(big, big.node, inputs, False).ok


def test_float32_score_error_sharpens_heads_and_bounds_means():
    """A head's softmax scale grows with the error bound of q.k, and a mean over several keys
    counts how unequal that error can make their weights."""
    from compiler.linear import Lin
    from compiler.plan import HeadSpec

    def head(err):
        return HeadSpec(
            Lin.const([1.0]), Lin.const([1.0]), 1.0, "half", Lin.const([1.0]), 4.0, score_err=err
        )

    assert head(0.1).beta(32) > head(0.0).beta(32)
    assert head(0.0).unequal_err(32) == 0.0 < head(1e-6).unequal_err(32) < 1e-3
    prog = compiler.compile(
        env_with("m = aggregate(select(tokens, tokens, ==), indices);"),
        "m",
        vocab=["a", "b"],
        max_len=8,
    )
    assert_exact(prog, ["a", "b"], 8)


def test_scores_float32_would_blur_compile_in_float64():
    """A mean of indices at max_len 64: float32 cannot keep its means (1/4032 apart) apart
    after the scores' error, so the model computes in float64 (and says so), exactly. (An
    `or` of three selects whose width needed one joint table of every (length, token,
    index) triple, and float64 for it, now splits into `and`s of per-pair tables.)"""
    sel = (
        "((select(length, tokens_int, ==) or select(tokens_int, tokens_int, ==)) or "
        "select(indices, indices, >=))"
    )
    prog = compiler.compile(env_with(), f"selector_width({sel})", vocab=[0, 1, 2], max_len=20)
    assert prog.manifest.dtype == "float32"
    assert_exact(prog, [0, 1, 2], 20)
    prog = compiler.compile(
        env_with("m = aggregate(select(tokens, tokens, ==), indices);"),
        "m",
        vocab=["a", "b"],
        max_len=64,
    )
    assert prog.manifest.dtype == "float64"
    assert_exact(prog, ["a", "b"], 64)


def test_an_equality_score_float32_would_blur_takes_float64_not_a_wider_table():
    """reverse's `select(indices, length - indices - 1, ==)` keeps its 3-dimensional
    quadratic score past max_len 70 in float64, instead of a one-hot table of the query
    (d_model 13 -> 153 in float32): d_model stays the same in max_len."""
    src = "flip = select(indices, length - indices - 1, ==); r = aggregate(flip, tokens);"
    small = compiler.compile(env_with(src), "r", vocab=["a", "b"], max_len=40)
    big = compiler.compile(env_with(src), "r", vocab=["a", "b"], max_len=90)
    assert small.manifest.dtype == "float32" and big.manifest.dtype == "float64"
    assert big.stats["d_model"] == small.stats["d_model"]
    assert_exact(big, ["a", "b"], 90)


def _truth_table_by_pairs(op, keys, queries):
    """Python's comparison pair by pair: what `truth_table` must agree with."""
    pred = ir.COMPARISONS[op]
    out = np.zeros((len(queries), len(keys)), dtype=bool)
    for qi, qv in enumerate(queries):
        for ki, kv in enumerate(keys):
            try:
                out[qi, ki] = bool(pred(kv, qv))
            except TypeError:
                pass
    return out


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
@pytest.mark.parametrize(
    "keys, queries",
    [
        ([0, 1, 2, 3, -4], [3, 0, 7]),  # ints: compared all at once
        ([True, False, 1, 0.5, 2.0, -0.0], [1, True, 0, 0.0, 2]),  # bool == 1 == 1.0
        ([float("nan"), float("inf"), -float("inf"), 1e308], [float("nan"), 1.0, float("inf")]),
        ([2**53 + 1, 2**53, 2**60], [float(2**53), 2**53 + 1, 2**60 + 1]),  # beyond float64
        (["a", "b", 1, None, (1, 2)], ["b", 1, 1.0, (1, 2), None]),  # mixed: pair by pair
        ([], [1, 2]),
    ],
)
def test_truth_table_agrees_with_python_comparisons(op, keys, queries):
    at = ir.Select(keys=None, queries=None, op=op)
    got = truth_table(at, keys, queries)
    assert got.dtype == bool and got.shape == (len(queries), len(keys))
    assert (got == _truth_table_by_pairs(op, keys, queries)).all()
