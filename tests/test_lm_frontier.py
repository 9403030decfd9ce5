"""The 99% exact-match frontier: Wilson intervals, the D each size needs, the least compute."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from lm import frontier


@pytest.mark.parametrize("k,n", [(0, 10), (7, 10), (10, 10), (499, 500), (1, 1000)])
def test_wilson_matches_scipy(k, n):
    want = binomtest(k, n).proportion_ci(confidence_level=0.90, method="wilson")
    assert frontier.wilson(k, n) == pytest.approx((want.low, want.high), abs=1e-12)


def _true_need(N: float) -> float:
    """Tokens a model of N parameters needs for 99%: more for smaller models."""
    return 2e5 * (1e4 / N) ** 0.7


def _runs(sizes, budgets, seeds=(0, 1), n_test=200, rng=None):
    """Rows as the sweep writes them; exact match a logistic in log D that crosses 0.99 at
    _true_need(N), sampled binomially when `rng` is given (else its expectation)."""
    rows = []
    for N in sizes:
        for D in budgets:
            for seed in seeds:
                logit = math.log(99) + 3.0 * (math.log(D) - math.log(_true_need(N)))
                p = 1 / (1 + math.exp(-logit))
                k = rng.binomial(n_test, p) if rng is not None else p * n_test
                rows.append(
                    {
                        "params_non_embedding": N,
                        "tokens": D,
                        "config": {"tokens": D},
                        "exact_match": k / n_test,
                        "test_examples": n_test,
                        "seed": seed,
                    }
                )
    return rows


def test_pooling_counts_every_seed():
    rows = _runs([1e4], [1e5], seeds=(0, 1, 2), n_test=100)
    (point,) = frontier.pool(rows)
    assert point.total == 300 and point.seeds == 3
    assert point.rate == pytest.approx(rows[0]["exact_match"], abs=0.01)


def test_crossing_interpolates_in_log_tokens():
    assert frontier.crossing([1e3, 1e5], [0.0, 1.0], 0.5) == pytest.approx(1e4)
    assert frontier.crossing([1e3, 1e5], [0.995, 1.0]) == 1e3
    assert frontier.crossing([1e3, 1e5], [0.2, 0.5]) is None


def test_frontier_recovers_the_need_of_each_size_on_noiseless_runs():
    sizes = [3e3, 1e4, 3e4, 1e5]
    budgets = list(np.geomspace(2e4, 2e6, 25))
    rows = _runs(sizes, budgets, n_test=100_000)
    needs = frontier.needs(frontier.pool(rows))
    for need in needs:
        assert need.D == pytest.approx(_true_need(need.N), rel=0.02)
        assert need.D_lo <= need.D <= need.D_hi
    fr = frontier.frontier(frontier.pool(rows))
    # 3e3 needs 4.6e5 tokens, inside the grid: the smallest size that learns.
    assert fr.smallest_N == 3e3
    assert fr.smallest_D == pytest.approx(_true_need(3e3), rel=0.02)
    # 6 N D grows with N here (D falls as N^-0.7), so the least compute is at the smallest.
    assert fr.C_min == pytest.approx(6 * 3e3 * _true_need(3e3), rel=0.02)
    assert fr.C_min_lo <= fr.C_min <= fr.C_min_hi


def test_sizes_that_never_reach_the_target_are_not_the_answer():
    budgets = list(np.geomspace(2e4, 2e6, 10))
    rows = _runs([300.0, 1e4], budgets, n_test=10_000)  # 300 needs 2.3e6: beyond the grid
    fr = frontier.frontier(frontier.pool(rows))
    assert fr.smallest_N == 1e4
    (small, _) = frontier.needs(frontier.pool(rows))
    assert small.D is None and small.D_hi is None and not small.could


def test_intervals_on_sampled_runs_cover_the_truth_and_shrink_with_more_inputs():
    rng = np.random.default_rng(0)
    sizes = [1e4, 3e4]
    budgets = list(np.geomspace(2e4, 2e6, 12))
    widths = []
    for n_test in (500, 5000):  # 1,000 pooled inputs: all right has a lower bound of 0.997
        needs = frontier.needs(frontier.pool(_runs(sizes, budgets, n_test=n_test, rng=rng)))
        for need in needs:
            assert need.D_lo is not None and need.D_hi is not None
            assert need.D_lo <= _true_need(need.N) <= need.D_hi
        widths.append(sum(math.log(n.D_hi / n.D_lo) for n in needs))
    assert widths[1] < widths[0]


def test_seeds_of_one_size_pool_even_when_their_vocabularies_differ():
    """Two seeds may see different output values, so their unembeddings (and N) differ by a
    few parameters: they are still one size of the grid."""
    rows = _runs([1e4], [1e5, 2e5], seeds=(0, 1), n_test=100)
    for r in rows:
        r["config"]["model"] = {"n_layers": 2, "d_model": 32, "n_heads": 2}
        r["params_non_embedding"] += 33 * r["seed"]
    points = frontier.pool(rows)
    assert len(points) == 2 and {p.size for p in points} == {"2x32x2"}
    assert all(p.total == 200 and p.N == 1e4 + 16.5 for p in points)
