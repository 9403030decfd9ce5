"""Number types: the compiled model gives the interpreter's int or float, never one for both."""

import pytest

import compiler
import rasp
from compiler.numtype import ambiguous, flaggable, keeps_type, share_points, untyped
from compiler.testing import assert_exact, compile_exact, env_with


def test_twins_on_hand_built_sets():
    assert ambiguous([0, 0.5, 1, 1.0]) and not ambiguous([0, 0.5, 1.0, "1"])
    assert ambiguous([1, True]) and not ambiguous(None)
    assert flaggable([0, 0.0, 0.5]) and not flaggable([1, 1.0, True])


def test_keeps_type_on_hand_built_maps():
    means = [0, 1, 0.5, 0.0, 1.0]
    assert keeps_type(lambda x: 1 - x, [means], [True])
    assert keeps_type(lambda x, y: x - y, [means, means], [True, True])
    assert keeps_type(lambda x, y: x + y, [means, [0, 1]], [True, False])
    assert not keeps_type(lambda x, y: x + y, [means, [0, 0.5]], [True, False])
    assert not keeps_type(lambda x: str(x), [means], [True])


def test_share_points_keep_runs_of_widths_apart():
    """Widths 0, 1 and 2+ from a share whose keys' weights may differ by e^0.2: each run's
    range ends; at e^0.8 the ranges of 1 and 2+ meet."""
    of = {0: True, 1: True, 2: False, 3: False, 4: False}.__getitem__
    pts = share_points([0, 1, 2, 3, 4], of, 0.2)
    assert pts is not None and sorted(set(pts.values())) == [False, True]
    lows = [p for p, out in pts.items() if out is False]
    highs = [p for p, out in pts.items() if out is True]
    assert max(lows) < min(highs) and max(highs) == 1.0
    assert 1 / 3 < max(lows) < 0.4 and min(lows) < 1 / 5  # 2 keys up to e^-0.2; 4 down
    assert share_points([1, 2, 3], {1: 1, 2: 0, 3: 0}.__getitem__, 0.8) is None


def types(values):
    return [type(v).__name__ for v in values]


def test_a_prefix_mean_is_an_int_at_the_first_position():
    """Position 0 selects one key (its int), later positions several (a float): the flag is
    a table of the position, so the model grows by one dimension, no layer."""
    src = 'm = aggregate(select(indices, indices, <=), indicator(tokens == "a"), 0);'
    prog = compile_exact(src, "m", ["a", "b"], 5)
    assert types(prog.run("ab")) == ["int", "float"]
    assert prog.stats["layers"] == 1 and prog.stats["heads"] == 1


def test_type_through_maps_and_sums():
    """1 - m keeps the type (the flag passes on); m * m needs it in an MLP (one more input
    bit); a mean over a selection of any size gets its flag from a width head."""
    src = (
        "s = select(tokens, tokens, ==);"
        'm = aggregate(s, indicator(tokens == "a"), 0);'
        'flip = 10 * (1 - m); sq = m * m; both = m - aggregate(s, tokens == "b", 0);'
    )
    for name in ("m", "flip", "both"):
        compile_exact(src, name, ["a", "b"], 4)
    prog = compile_exact(src, "sq", ["a", "b"], 4)
    assert types(prog.run("ab")) == ["int", "int"] and types(prog.run("aa")) == ["float"] * 2


def test_a_mean_with_too_many_values_to_list_is_typed_too():
    """Means of 0, 1 and 1000 over up to 64 keys take too many values to list, so the decoder
    does not snap them; where the flag says int, it rounds to one."""
    from compiler import verify as check

    src = "m = aggregate(select(indices, indices, <=), tokens_int, 0);"
    prog = compiler.compile(env_with(src), "m", [0, 1, 1000], 64)
    assert prog.manifest.output.values is None and prog.manifest.output.typed
    inputs = [[1000], [0, 1000], [1000] * 64, [0, 1000] * 32, [1000, 1, 0] * 21]
    assert check.verify(prog, prog.node, inputs, False).ok
    assert types(prog.run([1000, 0])) == ["int", "float"]


def test_a_type_no_flag_can_tell_is_refused():
    """Keys that are 1 on some positions and 1.0 on others: a mean over one key passes
    either through, so the output's type is the key's own, which no width tells."""
    src = 'x = 1 if tokens == "a" else 1.0;m = aggregate(select(tokens, tokens, ==), x, 0);'
    with pytest.raises(compiler.CompileError, match="int on some inputs"):
        compiler.compile(env_with(src), "m", ["a", "b"], 4)


NESTED = [  # means of means (and of sums of means): keys that are ints or floats
    "aggregate(s, (aggregate(s, indices) + 1))",  # found by the hypothesis test
    "aggregate(s, aggregate(s, indices))",
    "aggregate(p, aggregate(s, indices))",
    "aggregate(s, aggregate(s, aggregate(s, indices)))",
    "aggregate(s, (aggregate(s, indices) + aggregate(p, tokens_int)))",
    "aggregate(s, (aggregate(s, indices) - aggregate(s, tokens_int)))",
    "aggregate(p, (aggregate(p, indices) + 1), 0)",
    "aggregate(s, (aggregate(s, indices) * 2))",
    "aggregate(s, aggregate(s, tokens_int))",
]


@pytest.mark.parametrize("expr", NESTED)
def test_a_mean_of_means_is_exact_or_refused(expr):
    """Over one key such a mean is the key's own int or float, and its values are too many
    to list, so no value set shows the twins: its flag refuses when read (at the output),
    where the model would otherwise decode 1 as 0.99999999998 (an int, expected)."""
    src = "s = select(tokens_int, tokens_int, ==); p = select(indices, indices, <=);"
    try:
        prog = compiler.compile(env_with(src), expr, vocab=[0, 1, 2], max_len=4)
    except compiler.CompileError as err:
        assert "int" in err.message and "float" in err.message
        return
    assert_exact(prog, [0, 1, 2], 4)


def test_an_untyped_flag_refuses_when_read():
    """The flag of a value whose type no flag tracks is built lazily and refuses then, with
    the expression's own location (the read-out quotes it)."""
    node = rasp.Environment().expression("aggregate(select(indices, 0, ==), indices)")
    flag = untyped(node)
    assert flag.key == ("untyped", node.id) and not flag.ints
    with pytest.raises(compiler.CompileError, match="int or an equal float") as err:
        flag.node()
    assert err.value.node is node


def test_the_type_hint_works_for_a_mean_of_running_frequencies():
    """A mean over the prefix of a running frequency: the frequency is an int at position 0
    (one key) and a float elsewhere, so the mean's type varies and it is refused with the
    hint `x + 0.0`; with the hint applied every key is a float, and as `i <= i` never
    selects nothing, the mean is always a float: no flag, and it compiles exactly."""
    src = 'upto = select(indices, indices, <=); fa = aggregate(upto, indicator(tokens == "a"));'
    with pytest.raises(compiler.CompileError, match="int or an equal float") as err:
        compiler.compile(env_with(src), "aggregate(upto, fa)", ["a", "b"], 5)
    assert "`x + 0.0` always a float" in (err.value.hint or "")
    compile_exact(src, "aggregate(upto, fa + 0.0)", ["a", "b"], 5)
