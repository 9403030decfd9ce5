"""Value identity (`rasp.values.value_key`) and the distinct inputs of a vocabulary
(`rasp.source`), which the interpreter, the compiler's verifier and the lm data share."""

import random

import hypothesis.strategies as st
from hypothesis import given

from rasp.columns import Column
from rasp.source import count_inputs, draw_inputs, every_input
from rasp.values import value_key


def test_value_key_keeps_types_apart():
    assert len({value_key(v) for v in (1, 1.0, True, "1")}) == 4
    assert value_key(2) == value_key(2) and value_key("a") == value_key("a")
    assert value_key(0.0) == value_key(-0.0)  # the sign of zero is the interpreter's extra
    assert value_key([1, 2]) == value_key([1, 2]) != value_key([1, True])  # lists by text


def test_interpreter_tables_also_keep_the_sign_of_zero():
    col = Column.from_rows([[0.0, -0.0, 1, True, 1.0, [1], [1]]])
    assert [(type(v), repr(v)) for v in col.values] == [
        (float, "0.0"),
        (float, "-0.0"),
        (int, "1"),
        (bool, "True"),
        (float, "1.0"),
        (list, "[1]"),
    ]
    assert col.rows() == [[0.0, -0.0, 1, True, 1.0, [1], [1]]]


def test_every_input_by_hand():
    assert every_input("ab", range(1, 3)) == [
        ["a"],
        ["b"],
        ["a", "a"],
        ["a", "b"],
        ["b", "a"],
        ["b", "b"],
    ]
    assert count_inputs("ab", range(1, 3)) == 6
    assert count_inputs([1, 2, 3], range(2, 2)) == 0 and every_input([1, 2, 3], range(2, 2)) == []


@given(
    st.lists(st.sampled_from(["a", "b", 1, True, 1.0, 2.5]), min_size=1, max_size=4, unique=True),
    st.integers(1, 3),
    st.integers(0, 3),
)
def test_every_input_matches_the_count(vocab, lo, extra):
    lengths = range(lo, lo + extra + 1)
    inputs = every_input(vocab, lengths)
    assert len(inputs) == count_inputs(vocab, lengths)
    assert len({tuple(map(value_key, x)) for x in inputs}) == len(inputs)


@given(
    st.lists(st.sampled_from(["a", "b", "c", 1, True, 1.0]), min_size=1, max_size=4, unique=True),
    st.integers(1, 4),
    st.integers(1, 60),
    st.integers(0, 2**32),
)
def test_draw_inputs_are_distinct_drawn_and_reproducible(vocab, longest, n, seed):
    rng = random.Random(seed)
    found = draw_inputs(vocab, n, rng, lambda _i: rng.randint(1, longest), patience=50)
    keys = [tuple(map(value_key, x)) for x in found]
    assert len(set(keys)) == len(found) <= n
    assert all(
        1 <= len(x) <= longest and set(map(value_key, x)) <= set(map(value_key, vocab))
        for x in found
    )
    space = count_inputs(vocab, range(1, longest + 1))
    if space <= 3:  # 50 draws per wanted input find every one of a tiny space
        assert len(found) == min(n, space)
    rng = random.Random(seed)
    assert draw_inputs(vocab, n, rng, lambda _i: rng.randint(1, longest), patience=50) == found


def test_draw_inputs_passes_the_draw_number_and_gives_up():
    lengths = []

    def length(i):
        lengths.append(i)
        return 2

    found = draw_inputs(["x"], 3, random.Random(0), length, patience=4)
    assert found == [["x", "x"]]  # one input of length 2 exists: 12 draws, then it stops
    assert lengths == list(range(1, 13))
    growing = draw_inputs("ab", 3, random.Random(1), lambda i: i, patience=5)
    assert [len(x) for x in growing] == [1, 2, 3]  # each draw longer, so none repeats
