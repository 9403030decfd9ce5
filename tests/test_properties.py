"""Property tests: a vectorised batch means the same as each input alone; means are the
original's sums."""

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import rasp
from rasp.interpreter import Column, aggregate

ENV = rasp.Environment()
ENV.run("ints = tokens_int;")

STRING_EXPRS = [
    "length",
    "indices",
    "selector_width(select(tokens, tokens, ==))",
    'has_focus(select(tokens, "a", ==))',
    'count(tokens, "a")',
    'contains(tokens, "b")',
    "load_from_location(tokens, (indices + 1) % length)",
    'shift(tokens, 1, "_")',
    'shift(tokens, -2, "_")',
    'mark_last_instance(tokens, "a")',
    'mark_first_instance(tokens, "b")',
    'select_from_last(tokens, "a")',
    'select_from_first(tokens, "c")',
    "sort(tokens, tokens)",
    "select_next_identical(tokens)",
    'aggregate(select(indices, indices, <=), indicator(tokens == "a"))',
    "tokens[0]",
    "full_s",
]
INT_EXPRS = [
    "max(ints, 2)",
    "min(ints, indices)",
    "average(ints)",
    "sort(ints, ints)",
    "sort(indices, ints)",
    "ints % 3 + indices / 2",
    "round(ints / 3)",
]

words = st.text(alphabet="abc", min_size=1, max_size=8)
int_lists = st.lists(st.integers(min_value=-3, max_value=9), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STRING_EXPRS), st.lists(words, min_size=1, max_size=12))
def test_batch_equals_one_by_one_strings(expr, inputs):
    assert ENV.evaluate_batch(expr, inputs) == [ENV.evaluate(expr, x) for x in inputs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(INT_EXPRS), st.lists(int_lists, min_size=1, max_size=12))
def test_batch_equals_one_by_one_ints(expr, inputs):
    batch = ENV.evaluate_batch(expr, inputs)
    alone = [ENV.evaluate(expr, x) for x in inputs]
    assert [[(type(v), v) for v in row] for row in batch] == [
        [(type(v), v) for v in row] for row in alone
    ]


@settings(max_examples=40, deadline=None)
@given(int_lists)
def test_sort_is_sorted_and_stable(xs):
    assert ENV.evaluate("sort(ints, ints)", xs) == sorted(xs)
    assert ENV.evaluate("sort(indices, ints)", xs) == sorted(range(len(xs)), key=lambda i: xs[i])


@settings(max_examples=40, deadline=None)
@given(words)
def test_histogram_counts(word):
    assert ENV.evaluate("selector_width(select(tokens, tokens, ==))", word) == [
        word.count(c) for c in word
    ]
    assert ENV.evaluate("length", word) == [len(word)] * len(word)


# ---- means: the original's `sum(selected) * 1.0 / n`, bit for bit -----------------------------

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 0.5, 0.1, 1e16, -1e16]),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
)


def _same_bits(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None)
@given(
    st.lists(numbers, min_size=2, max_size=10).filter(
        lambda xs: not all(type(x) is bool for x in xs)
    ),
    st.data(),
)
def test_means_are_pythons_left_to_right_sums(values, data):
    n = len(values)
    mask = data.draw(
        st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=n, max_size=n)
    )
    sel = np.array([mask])

    def mean(row):  # the original's, query by query
        picked = [v for v, s in zip(values, row, strict=True) if s]
        if len(picked) <= 1:
            return picked[0] if picked else 0
        return sum(picked) * 1.0 / len(picked)

    try:
        want = [mean(row) for row in mask]
    except OverflowError:
        with pytest.raises(OverflowError):
            aggregate(sel, Column.from_rows([values]), 0)
        return
    got = aggregate(sel, Column.from_rows([values]), 0).rows()[0]
    assert all(_same_bits(g, w) for g, w in zip(got, want, strict=True)), (got, want)
