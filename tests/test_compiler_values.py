"""Stage 1, value sets: Python's semantics over every value that can reach a node, selector
summaries, and which s-ops determine which."""

from __future__ import annotations

import compiler
from compiler import values
from compiler.normalise import normalise
from compiler.testing import assert_exact, env_with


def test_value_sets_follow_python_semantics():
    env = env_with(
        "x = tokens_int * 2; y = x + indices;"
        "s = aggregate(select(indices, indices, <=), tokens_int);"
    )
    a = values.analyse([env.expression("y"), env.expression("s")], [1, 2], 3)
    assert a.of(env.expression("x")) == [2, 4]
    assert a.of(env.expression("y")) == [2, 3, 4, 5, 6]
    means = a.of(env.expression("s"))
    assert 1.5 in means and 1 in means  # a mean, a single value
    assert 0 not in means  # never the default: i <= i, so no selection is empty


def test_a_select_of_one_computation_with_itself_is_never_empty():
    env = env_with("x = tokens_int % 2; same = select(x, x, ==); le = select(tokens, tokens, <=);")
    env.run("lt = select(x, x, <); y = select(x, tokens_int % 2, >=);")
    a = values.analyse(
        [env.expression(f"aggregate({name}, tokens_int)") for name in ("same", "le", "lt", "y")],
        [1, 2, 3],
        4,
    )
    nonempty = {
        name: a.selectors[env.expression(name).id].nonempty for name in ("same", "le", "lt", "y")
    }
    # == and <= of one s-op select the query's own position; < does not; `y` compares two
    # separately written but identical computations, the same s-op
    assert nonempty == {"same": True, "le": True, "lt": False, "y": True}


def test_selector_summaries_and_relative_bounds():
    env = env_with(
        "flip = select(indices, length - indices - 1, ==); near = select(indices, indices + 1, ==);"
    )
    flip, near = env.expression("flip"), env.expression("near")
    a = values.analyse(
        [
            normalise(env.expression("aggregate(flip, tokens)")),
            normalise(env.expression('aggregate(near, tokens, "_")')),
        ],
        ["a"],
        5,
    )
    assert a.selectors[flip.id].max_one and a.selectors[flip.id].nonempty
    assert a.selectors[near.id].max_one and not a.selectors[near.id].nonempty


def test_keys_that_determine_the_values_make_a_mean_one_value():
    """select(K, Q, ==) selects keys with one value of K; if K determines the aggregated
    s-op within the input (a function of it, or a rank of it), they hold one value too."""
    env = env_with(
        "rank = selector_width(select(tokens_int, tokens_int, <));"
        "same = selector_width(select(tokens_int, tokens_int, ==));"
        "at = select(rank, indices, ==);"
    )
    cases = {
        "aggregate(at, tokens_int)": True,  # a rank is strictly monotone in what it ranks
        "aggregate(at, tokens_int * 2 + 1)": True,
        "aggregate(at, indices)": False,  # equal ranks may sit at different positions
        "aggregate(select(same, indices, ==), tokens_int)": False,  # counts are not ranks
        "aggregate(select(tokens_int, indices, ==), tokens_int % 2)": True,
        "aggregate(select(tokens_int % 2, indices, ==), tokens_int)": False,
        "aggregate(select(tokens_int, indices, <=), tokens_int)": False,  # not ==
        "aggregate(at and select(indices, indices, <), tokens_int)": True,
        # The same expression written twice is the same s-op.
        "aggregate(select(selector_width(select(tokens_int + 1, tokens_int + 1, <)), indices,"
        " ==), tokens_int)": True,
    }
    nodes = {text: normalise(env.expression(text)) for text in cases}
    a = values.analyse(list(nodes.values()), [0, 1, 2], 4)
    assert {t: values.selects_one_value(n, a) for t, n in nodes.items()} == cases
    assert a.of(nodes["aggregate(at, tokens_int)"]) == [0, 0.0, 1, 1.0, 2, 2.0]
    # A stable rank orders by (token, index): it differs between any two positions.
    env.run(
        "stable = selector_width(select(tokens_int, tokens_int, <) or "
        "(select(tokens_int, tokens_int, ==) and select(indices, indices, <)));"
        "moved = select(stable, indices, ==);"
    )
    a = values.analyse(
        [
            normalise(env.expression("aggregate(moved, tokens_int)")),
            normalise(env.expression("aggregate(at, tokens_int)")),
        ],
        [0, 1, 2],
        4,
    )
    assert values.position_injective(normalise(env.expression("stable")), a)
    assert a.selectors[env.expression("moved").id].max_one
    assert not values.position_injective(normalise(env.expression("rank")), a)
    # Compiled either way, every input of length <= 5 gives the interpreter's output.
    for expr in (
        "aggregate(select(same, indices, ==), tokens_int)",
        "aggregate(select(selector_width(select(tokens_int, tokens_int, <=)), "
        "indices + 1, ==), tokens_int * 3)",
        "aggregate(at, indices)",
        "aggregate(select(stable, indices, ==), tokens_int)",
    ):
        prog = compiler.compile(env, expr, vocab=[0, 1, 2], max_len=5)
        assert_exact(prog, [0, 1, 2], 5)


def test_sums_with_numpy_are_python_s_sums_with_their_types():
    import operator
    import random

    from compiler.values import apply_all, sums

    rng = random.Random(1)
    for _ in range(200):
        sets = [
            list(
                {
                    rng.choice([rng.randint(-5, 5), rng.randint(-5, 5) / rng.randint(1, 7)])
                    for _ in range(rng.randint(1, 9))
                }
            )
            for _ in range(2)
        ]
        for op, minus in ((operator.add, False), (operator.sub, True)):
            got, want = sums(*sets, minus), apply_all(op, sets)
            assert got is not None and want is not None
            assert [(type(v), v) for v in got] == [(type(v), v) for v in want]
    assert sums([1, "a"], [2], False) is None


def test_a_shift_of_a_sum_too_large_to_list_still_determines_the_position():
    env = env_with('p = aggregate(select(tokens, "+", ==), indices, 0); k = indices + p + 1;')
    k = normalise(env.expression("k"))
    a = values.analyse([k], ["0", "1", "+"], 64)
    assert a.values[k.id] is None  # more values than kept
    assert values.position_injective(k, a)
