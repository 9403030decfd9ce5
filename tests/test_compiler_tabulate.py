"""Tables of elementwise expressions: Python's own operators on every row, errors as MISSING,
equal numbers of different types checked to agree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from compiler.tabulate import (
    MISSING,
    Ambiguous,
    Column,
    agree,
    column,
    product_rows,
    tabulate,
    tree_outputs,
)
from compiler.testing import env_with


def test_product_rows_vary_the_last_input_fastest():
    for sizes in ([3], [2, 3, 1, 4], [1] * 40):
        want = list(itertools.product(*(range(s) for s in sizes)))
        assert product_rows(sizes).tolist() == [list(t) for t in want]
    assert product_rows([]).shape == (1, 0)


def test_a_tree_over_its_leaves_matches_python_row_by_row():
    env = env_with(
        "a = aggregate(select(indices, 0, ==), tokens_int);"
        "b = aggregate(select(indices, 1, ==), tokens_int);"
        "t = (a + 1) * b if a < b else 10 / (b - 1);"
    )
    a, b, t = (env.expression(x) for x in "abt")
    av, bv = [0, 1, 2], [1, 2, 3]
    got = tree_outputs(t, [a, b], [[[v] for v in av], [[v] for v in bv]], lambda n: n.id)
    want = []
    for x, y in itertools.product(av, bv):  # both branches are s-ops: computed everywhere
        want.append(MISSING if y == 1 else (x + 1) * y if x < y else 10 / (y - 1))
    assert got == want


def test_shared_subtrees_are_computed_once_and_remembered():
    env = env_with(
        "a = aggregate(select(indices, 0, ==), tokens_int); s = a * 2;u = s + s; v = s - 1;"
    )
    a, u, v = (env.expression(x) for x in "auv")
    done: dict = {}
    groups = [[[0], [1], [2]]]
    assert tree_outputs(u, [a], groups, lambda n: n.id, done) == [0, 4, 8]
    known = set(done)
    assert tree_outputs(v, [a], groups, lambda n: n.id, done) == [-1, 1, 3]
    assert known < set(done)


def test_token_and_position_functions_read_the_row_s_token_or_position():
    env = env_with('f = tokens + "!"; g = indices % 2 == 0;')
    assert tabulate(env.expression("f"), 2, {}, token=["a", "b"]).values() == ["a!", "b!"]
    assert tabulate(env.expression("g"), 3, {}, index=[0, 1, 2]).values() == [True, False, True]


def test_columns_keep_distinct_values_by_type():
    c = column([1, 1.0, True, 1])
    assert c.table == [1, 1.0, True] and c.codes.tolist() == [0, 1, 2, 0]
    assert Column(np.array([1, 0]), ["x", "y"]).values() == ["y", "x"]


def test_equal_numbers_of_different_types_must_agree():
    assert agree([MISSING, 3, 3], "pt") == 3
    with pytest.raises(Ambiguous):  # 3 and 3.0 are two results (the interpreter prints both)
        agree([3, 3.0], "pt")
    assert agree([MISSING], "pt") is MISSING
    with pytest.raises(Ambiguous):
        agree([1, "1"], "pt")
    with pytest.raises(Ambiguous):
        agree([1, 2], "pt")
