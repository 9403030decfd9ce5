"""Comparisons through differences, and the points a select needs, on hand-built nodes."""

from __future__ import annotations

import numpy as np

from compiler.compare import difference_points, points_near
from compiler.linear import Lin
from compiler.plan import Embedded, Head, Linear
from compiler.testing import compile_exact, env_with


def test_difference_points_are_the_ones_next_to_zero_and_the_ends():
    xs, ys = [0, 1, 2, 3], [0.5, 1.25, 2.0]
    assert difference_points(xs, ys) == [-2.0, -0.25, 0.0, 0.5, 2.5]
    assert difference_points([1, 2], [5]) == [-4.0, -3.0]  # never 0 or above


def test_points_near_list_the_sums_next_to_each_target():
    pos = Embedded(
        "categorical", [0, 1, 2, 3], "indices", table=np.eye(4), base=np.zeros(4), kind="pos", id=0
    )
    mean = Head("numerical", [0, 0.5, 1.0, 1.5], "m", head=None, base=np.zeros(1), id=1)
    lin = Lin.of(pos, 4).left(np.arange(4.0)[None, :]) + Lin.of(mean, 1) + Lin.const([1.0])
    k = Linear("numerical", None, "k", lin=lin, id=2)
    got = points_near(k, [2, 5])
    # sums i + m + 1 run from 1 to 5.5 in steps of 0.5: 2 and 5 with their neighbours
    assert got == [1.0, 1.5, 2.0, 2.5, 4.5, 5.0, 5.5]
    assert points_near(k, ["a"]) is None


def test_a_sum_with_a_mean_selects_exactly_by_the_integer_it_hits():
    compile_exact(
        'p = aggregate(select(tokens, "+", ==), indices, 0);'
        'y = aggregate(select(indices + p + 1, indices, ==), tokens, "-");'
        'z = y if indices > p else "-";',
        "z",
        ["0", "1", "+"],
        8,
    )


def test_a_product_of_two_ints_with_too_many_pairs_is_a_difference_of_squares():
    """150 x 151 (position, width) pairs are more than one MLP may enumerate: the product is
    ((x + y)^2 - (x - y)^2) / 4, two MLPs of one input each and a linear read-out, exact,
    negative products too; checked at the extremes random inputs rarely reach as well."""
    src = "w = selector_width(select(tokens, tokens, ==)); p = (indices - 70) * w;"
    prog = compile_exact(src, "p", ["a", "b"], 150)
    squares = [b for b in prog.manifest.layout if b.label.endswith("^2")]
    assert len(squares) == 2 and {b.layer for b in squares} == {1}
    env = env_with(src)
    for x in ["a" * 150, "ab" * 75, "a", "b" * 71 + "a" * 79, "a" * 149 + "b"]:
        assert prog.run(x) == env.evaluate("p", x), x
