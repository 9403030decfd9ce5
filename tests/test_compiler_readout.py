"""The output's read-out: how far float error may move a number before it decodes wrong."""

from __future__ import annotations

from compiler.readout import _type_gap
from compiler.testing import compile_exact


def test_the_type_gap_is_the_closest_int_float_pair():
    assert _type_gap([0, 0.5, 1, 2.25, 3]) == 0.5
    assert _type_gap([1, 1.0, 3]) == 2.0  # twins (1, 1.0) are the type flag's business
    assert _type_gap([0.5, 0.25]) == float("inf") and _type_gap([True, 1.5]) == 0.5


def test_values_closer_than_the_comparison_tolerance_decode_as_either():
    """fa / (fb + 1) takes values 2.8e-17 apart (one fraction reached by two orders of
    float division): no float error keeps them apart, but both are right to 1e-5
    (`precision.SAME`), so it compiles exactly; before, it was refused ("its float64 error
    could change the decoded output (values 2.8e-17 apart)")."""
    src = (
        "upto = select(indices, indices, <=);"
        'fa = aggregate(upto, indicator(tokens == "a"));'
        'fb = aggregate(upto, indicator(tokens == "b"));'
        "r = fa / (fb + 1);"
    )
    compile_exact(src, "r", ["a", "b"], 5)
