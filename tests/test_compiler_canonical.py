"""Canonical selectors on IR built from source: Tracr's tie-broken sort key, distribution."""

from __future__ import annotations

from compiler import values
from compiler.canonical import distributed, tie_broken
from compiler.normalise import normalise
from compiler.testing import compile_exact, env_with
from rasp import ir

SORT_KEY = "h = -selector_width(select(tokens, tokens, ==)); k = h + indices / 64;"


def _rewrite(source: str, vocab, max_len: int) -> ir.Selector:
    """select(k, k, <) on the normalised k of the source, rewritten."""
    k = normalise(env_with(source).expression("k"))
    sel = ir.Select(keys=k, queries=k, op="<")
    a = values.analyse([k], vocab, max_len)

    def foot(n: ir.IRNode) -> frozenset[str]:
        kinds = {type(x) for x in ir.walk([n])}
        return frozenset({"I"} if ir.Indices in kinds else set()) | (
            frozenset({"T"}) if ir.Tokens in kinds else frozenset()
        )

    return tie_broken(sel, a, lambda x, y: x is y, foot)


def test_a_key_plus_a_small_position_share_orders_by_key_then_position():
    got = _rewrite(SORT_KEY, ["a", "b"], 16)
    assert isinstance(got, ir.SelectorCombine) and got.op == "or"
    strict, ties = got.inputs
    assert isinstance(strict, ir.Select) and strict.op == "<"
    assert isinstance(ties, ir.SelectorCombine) and ties.op == "and"
    equal, by_pos = ties.inputs
    assert isinstance(equal, ir.Select) and equal.op == "=="
    assert isinstance(by_pos, ir.Select) and isinstance(by_pos.keys, ir.Indices)
    assert by_pos.op == "<"


def test_a_share_as_large_as_a_gap_is_left_alone():
    got = _rewrite(SORT_KEY.replace("/ 64", "/ 8"), ["a", "b"], 16)  # 15/8 > the gap, 1
    assert isinstance(got, ir.Select) and got.op == "<"


def test_and_over_or_distributes():
    env = env_with(
        "a = select(tokens, tokens, <); b = select(indices, indices, <);"
        'c = select(tokens, "x", ==); s = (a or b) and c;'
    )
    got = distributed(env.expression("s"))
    assert isinstance(got, ir.SelectorCombine) and got.op == "or"
    assert all(isinstance(p, ir.SelectorCombine) and p.op == "and" for p in got.inputs)
    assert got.inputs[0].inputs[1] is env.expression("c")
    plain = env.expression("a")
    assert distributed(plain) is plain


def test_tracr_style_sort_compiles_exactly_and_as_small_as_the_library_sort():
    tracr = compile_exact(
        SORT_KEY + "u = aggregate(select(selector_width(select(k, k, <)), indices, ==), tokens);",
        "u",
        ["a", "b", "c"],
        6,
    )
    lib = compile_exact(
        "h = -selector_width(select(tokens, tokens, ==));u = sort(tokens, h);",
        "u",
        ["a", "b", "c"],
        6,
    )
    assert tracr.stats["d_model"] <= lib.stats["d_model"]
