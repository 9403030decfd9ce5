"""Stage 0, normalise: idioms become node kinds; the program's own graph is left as it was."""

from __future__ import annotations

from compiler.normalise import PrefixCount, Width, normalise
from compiler.testing import env_with
from rasp import ir


def test_widths_and_length_become_width_nodes_with_the_program_s_ids():
    env = env_with("w = selector_width(select(tokens, tokens, ==)); y = w + length;")
    y = env.expression("y")
    n = normalise(y)
    assert isinstance(n, ir.SequenceMap) and n is not y and n.id == y.id
    w, length = n.inputs
    assert isinstance(w, Width) and not w.is_length and w.id == env.expression("w").id
    assert isinstance(length, Width) and length.is_length
    assert isinstance(w.selector, ir.Select) and isinstance(w.selector.keys, ir.Tokens)
    assert isinstance(y.inputs[0], ir.Map)  # the program's graph is untouched


def test_the_paper_s_reciprocal_share_is_a_width():
    env = env_with(
        "s = select(tokens, tokens, ==) or select(indices, 0, ==);"
        "w = round(1 / aggregate(s, indicator(indices == 0)));"
    )
    n = normalise(env.expression("w"))
    assert isinstance(n, Width) and n.selector is env.expression("s")


def test_prefix_counts_keep_what_they_count_and_the_expression_as_written():
    env = env_with(
        'x = indicator(tokens == "a");'
        "c = round(aggregate(select(indices, indices, <=), x) * (indices + 1));"
    )
    c = env.expression("c")
    n = normalise(c)
    assert isinstance(n, PrefixCount) and n.id == c.id
    assert n.counted is env.expression("x")
    assert isinstance(n.selector, ir.SelectorCombine) and n.selector.op == "and"
    assert isinstance(n.fallback, ir.Map) and n.fallback.op == "round" and n.fallback.id != c.id


def test_nothing_to_rewrite_is_the_same_graph():
    env = env_with("z = aggregate(select(indices, indices, <), tokens_int + 1);")
    z = env.expression("z")
    assert normalise(z) is z


def test_a_width_of_a_selector_written_to_select_every_key_is_length():
    """Tracr's `Comparison.TRUE` written in RASP (`s or not s`, or `==` or `!=` on the same
    sides) is `length`: a full selector, so it compiles to the size of `length`."""
    for written in [
        "select(tokens, tokens, ==) or not select(tokens, tokens, ==)",
        "not select(indices, indices, <) or select(indices, indices, <)",
        'select(tokens, "a", ==) or select(tokens, "a", !=)',
    ]:
        n = normalise(env_with(f"w = selector_width({written});").expression("w"))
        assert isinstance(n, Width) and n.is_length, written
        full = n.selector
        assert isinstance(full, ir.Select) and full.op == "==", written
        assert isinstance(full.keys, ir.Full) and isinstance(full.queries, ir.Full)
    for not_every in [
        'select(tokens, "a", ==) or select(tokens, "b", !=)',  # "b" is selected by neither
        "select(tokens, tokens, ==) or not select(indices, indices, ==)",
        "select(tokens, tokens, <) or select(tokens, tokens, >=)",  # NaN would select neither
        "select(tokens, tokens, ==) and not select(tokens, tokens, ==)",
    ]:
        n = normalise(env_with(f"w = selector_width({not_every});").expression("w"))
        assert isinstance(n, Width) and not n.is_length, not_every
