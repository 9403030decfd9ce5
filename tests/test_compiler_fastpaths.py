"""The compiler's fast paths against what they stand for: distinct rows against np.unique,
the identity shortcut of a product against @, the unit-rows rank test against matrix_rank,
numpy's distinct values, twins, clusters, comparisons and agreement against Python's loops."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import valuesets
from compiler.assemble import _holds_units
from compiler.discretise import clusters, clusters_by_loop
from compiler.linear import is_identity, matmul
from compiler.numtype import ambiguous, flaggable, nonfloat
from compiler.tabulate import MISSING, Ambiguous, _compared, column, tabulate, tree_outputs
from compiler.testing import env_with
from compiler.unique import distinct_cols, unique_cols, unique_rows
from compiler.values import is_numeric_like
from rasp.columns import type_class


@pytest.mark.parametrize(
    "a",
    [
        np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 1, 0]], dtype=bool),
        np.array([[1] * 70, [0] * 69 + [1], [1] * 70, [0] * 70], dtype=bool),  # 9 bytes a row
        np.array([[3, -1], [-5, 2], [3, -1], [-5, 1], [0, 0]]),
        np.array([[-0.0, 1.5], [0.0, 1.5], [-np.inf, -2.0], [1e-310, -1e-310], [-2.0, 7.0]]),
        np.array([[-0.0, 1.5, 2.0], [0.0, 1.5, 2.0], [-1.0, 0.0, 0.0]]),  # 24 bytes a row
        np.array([[np.nan, 1.0], [1.0, 2.0], [1.0, 2.0]]),  # NaN: numpy's own unique
        np.zeros((0, 3)),
    ],
)
def test_unique_rows_and_cols_match_numpy(a):
    for axis, ours in ((0, unique_rows), (1, unique_cols)):
        want, want_inv = np.unique(a, axis=axis, return_inverse=True)
        got, inv = ours(a)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(inv, np.ravel(want_inv))


def test_distinct_cols_are_numpys_in_first_seen_order():
    a = np.array([[1.0, -0.0, 1.0, 0.0, 2.0], [3.0, 0.0, 3.0, -0.0, 1.0]])
    np.testing.assert_array_equal(distinct_cols(a), a[:, [0, 1, 4]])
    assert not np.signbit(distinct_cols(a)).any()
    b = np.array([[True, False, True], [False, False, False]])
    np.testing.assert_array_equal(distinct_cols(b), b[:, :2])


def test_unique_rows_of_a_million_narrow_rows_keep_numpys_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, (1_000_000, 3)).astype(bool)
    want, want_inv = np.unique(a, axis=0, return_inverse=True)
    got, inv = unique_rows(a)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(inv, np.ravel(want_inv))


def test_identity_product_is_bytewise_the_product():
    a = np.array([[-0.0, 2.5, -3.0], [0.0, -0.0, 1e-300]])
    assert is_identity(np.eye(3)) and not is_identity(np.eye(3)[:2])
    assert not is_identity(np.diag([1.0, 2.0, 1.0])) and not is_identity(np.ones((2, 2)))
    assert matmul(a, np.eye(3)).tobytes() == (a @ np.eye(3)).tobytes()
    b = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]])
    assert matmul(a, b).tobytes() == (a @ b).tobytes()


@pytest.mark.parametrize(
    "rows, full",
    [
        (np.vstack([np.eye(4)[[2, 0]], [[1.0, 1.0, 0.0, 0.0]], np.eye(4)[[3, 1]]]), True),
        (np.vstack([np.eye(4)[[2, 0, 3]], [[0.0, 2.0, 0.0, 0.0]]]), False),  # not a unit
        (np.vstack([np.eye(4)[[2, 0, 3]], [[0.0, 1.0, 1.0, 0.0]]]), False),
        (np.vstack([np.eye(2), [[1e20, 0.0]]]), False),  # too large: matrix_rank says 1
    ],
)
def test_unit_rows_imply_the_rank_matrix_rank_finds(rows, full):
    """Unit rows only ever confirm full rank; else the SVD decides."""
    assert _holds_units(rows, rows.shape[1]) == full
    if full:
        assert np.linalg.matrix_rank(rows) == rows.shape[1]


MIXED_NUMBERS = [
    [3, 1.0, True, 1, 0.0, -0.0, False, 0, 2.5, 1.0, 3],  # 1, 1.0 and True are three values
    [-0.0, 0.0, -1, -1.0, float("inf"), -float("inf"), 2**53 - 1, float(2**53)],
    [1.0, True, 1],  # twins: flag-able
    [1, True],  # an int and a bool of one number: not flag-able
    [2**60, 2**60 + 1, 1.0],  # beyond float64: Python's loops
    [float("nan"), 1.0, 1],
    ["a", 1, 1.0, "b", None],
    [],
]


def _distinct_by_loop(values):
    seen = {}
    for v in values:
        seen.setdefault(valuesets.vkey(v), v)
    return sorted(seen.values(), key=valuesets.sort_key)


def _typed(values):
    """Values with their type and the sign of a zero (== alone would hide both)."""
    return [(type(v), repr(v)) for v in values]


@pytest.mark.parametrize("values", MIXED_NUMBERS)
def test_distinct_values_match_the_dict_and_sort_of_them(values):
    if any(v != v for v in values):  # NaN: sorted() has no order to match
        assert valuesets.numeric_arrays(values) is None
        return
    assert _typed(valuesets.distinct(values)) == _typed(_distinct_by_loop(values))
    assert _typed(valuesets.distinct(values[::-1])) == _typed(_distinct_by_loop(values[::-1]))


def test_distinct_refuses_more_than_the_limit():
    valuesets.distinct([k / 2 for k in range(valuesets.LIMIT)])
    with pytest.raises(valuesets.TooMany):
        valuesets.distinct([k / 2 for k in range(valuesets.LIMIT + 1)])


def _ambiguous_by_loop(values):
    seen = {}
    return any(
        is_numeric_like(v) and seen.setdefault(float(v), type_class(v)) != type_class(v)
        for v in values
    )


def _flaggable_by_loop(values):
    seen = {}
    return not any(
        is_numeric_like(v)
        and seen.setdefault((float(v), nonfloat(v)), type_class(v)) != type_class(v)
        for v in values
    )


@pytest.mark.parametrize("values", MIXED_NUMBERS)
def test_twins_by_numpy_match_the_loops(values):
    assert ambiguous(values) == _ambiguous_by_loop(values)
    assert flaggable(values) == _flaggable_by_loop(values)


@pytest.mark.parametrize(
    "domain",
    [
        [2, 1.0, True, 1, 0.0, False, -0.0, 2 / 3, 1 / 3 + 1 / 3, -3.0],
        # a chain of small gaps: the third is over the limit from the first, not the second
        [5.000000000008, 5.0, 5.000000000004, 5.000000000012, 1e-13, 2e-13, 0],
        [],
    ],
)
def test_clusters_by_numpy_match_the_loop(domain):
    points, members, spread = clusters(domain)
    want_points, want_members, want_spread = clusters_by_loop(domain)
    assert points.tolist() == want_points.tolist() and spread == want_spread
    assert [_typed(m) for m in members] == [_typed(m) for m in want_members]


def test_comparisons_of_a_column_at_once_match_python_row_by_row():
    env = env_with(
        "a = aggregate(select(indices, 0, ==), tokens_int);"
        "lt = a < 2; ge = 1 >= a; eq = a == 1.0; le = True <= a;"
    )
    a = env.expression("a")
    values = [2, True, 1.0, -0.0, 0, 1, 2.5, False]
    for name, fn in [
        ("lt", lambda x: x < 2),
        ("ge", lambda x: 1 >= x),
        ("eq", lambda x: x == 1.0),
        ("le", lambda x: True <= x),
    ]:
        node = env.expression(name)
        assert _compared(node, column(values)) is not None
        col = tabulate(node, len(values), {a.id: column(values)})
        assert _typed(col.values()) == _typed([fn(x) for x in values])
    assert _compared(env.expression("lt"), column([1, "x", MISSING])) is None


def test_groups_of_equal_numbers_agree_by_numpy_or_raise_as_the_loop_does():
    env = env_with("a = aggregate(select(indices, 0, ==), tokens_int); t = a < 2; u = a * 1;")
    a, t, u = (env.expression(x) for x in "atu")
    groups = [[[1, 1.0, True], [2, 2.0], [3]]]
    assert tree_outputs(t, [a], groups, lambda n: n.id) == [True, False, False]
    with pytest.raises(Ambiguous):  # 1 * 1 and 1.0 * 1 are two results
        tree_outputs(u, [a], groups, lambda n: n.id)
