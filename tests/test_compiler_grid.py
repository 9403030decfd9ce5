"""Comparisons of a mean with too many values to list (`MeanGrid`): the points next to the
constant, checked against every mean listed by brute force, and end to end at max_len 512."""

import itertools
from fractions import Fraction

import pytest

import compiler
from compiler import verify as check
from compiler.testing import compile_exact, env_with
from compiler.valuesets import MeanGrid, SelectorInfo


def brute_means(xs, n, default=None):
    """Every mean of 1..n values drawn from xs (exact rationals), and the default."""
    out = {Fraction(default)} if default is not None else set()
    for k in range(1, n + 1):
        for combo in itertools.combinations_with_replacement(xs, k):
            out.add(Fraction(sum(combo), k))
    return out


@pytest.mark.parametrize(
    ("xs", "n", "default"),
    [([-1, 0, 1], 6, None), ([0, 3, 6], 5, 5), ([2, 7], 6, None), ([-4, 0, 2], 4, -1)],
)
def test_near_points_are_the_true_neighbours_or_closer(xs, n, default):
    """Against brute force: no mean lies strictly between c and a returned neighbour, and
    c is returned exactly when some mean equals it."""
    info = SelectorInfo(max_one=False, nonempty=default is None)
    grid = MeanGrid.of(xs, info, default, n)
    assert grid is not None
    means = brute_means(xs, n, default)
    for c in [-2, -1, -0.5, 0, 0.25, 1, 1.5, 2, 3, 4.5, 8]:
        pts = grid.near(float(c))
        assert pts is not None
        assert (float(c) in pts) == (Fraction(c) in means)
        for lo, hi in itertools.pairwise(pts):  # no mean strictly inside, on both sides of c
            inside = [m for m in means if lo < m < hi]
            assert all(m < c for m in inside) or all(m > c for m in inside)
        assert min(pts) <= min(means) and max(pts) >= max(means)


def test_grid_only_for_means_of_ints():
    info = SelectorInfo(max_one=False, nonempty=True)
    assert MeanGrid.of([0.5, 1.0], info, None, 8) is None
    assert MeanGrid.of([True, False], info, None, 8) is None
    assert MeanGrid.of([1, 2], SelectorInfo(max_one=True, nonempty=True), None, 8) is None
    assert MeanGrid.of([1, 2], SelectorInfo(max_one=False, nonempty=False), "x", 8) is None
    g = MeanGrid.of([1, 5, 9], info, None, 8)
    assert (g.lo, g.step, g.span) == (1, 4, 2)


BALANCE = (
    "p = select(indices, indices, <=);"
    'balance = aggregate(p, indicator(tokens == "(")) - aggregate(p, indicator(tokens == ")"));'
)


def test_a_prefix_balance_compares_with_zero_at_512():
    """balance takes ~160k values at max_len 512, but `== 0` and `< 0` need five points."""
    env = env_with(BALANCE)
    for expr in ("balance == 0", "balance < 0", "balance > 0.5"):
        prog = compiler.compile(env, expr, vocab=["(", ")"], max_len=512)
        assert prog.stats["layers"] == 1
        inputs = [
            "()" * 256,
            "(" * 256 + ")" * 256,
            ")(" * 256,
            "(" * 255 + ")" * 257,
            "(" * 257 + ")" * 255,
            "(()" * 170 + "))",
            "(" + "()" * 255 + ")",
            ")",
        ]
        report = check.verify(prog, prog.node, [list(s) for s in inputs], False)
        assert report.ok, report.first.describe()


def test_small_lengths_stay_exact():
    """The same comparisons exhaustively at a length small enough to list every mean (there
    the listed values decide, not the grid)."""
    for expr in ("balance == 0", "balance < 0"):
        compile_exact(BALANCE, expr, ["(", ")"], 6)
