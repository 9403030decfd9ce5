"""The selector builders of `compiler/selectors.py` on hand-built inputs: the pure functions
(`quadratic_plan`, `value_classes`, `never_selects`, `without_mask`, `joiner`, `sharp`) on
read-outs, truth tables and IR made here, and the `Lowerer`'s scores for hand-made selectors
over tokens and positions, evaluated at every (query, key) pair of every input and held
against the interpreter's selection matrix: the threshold exactly where it selects, at least
1 below elsewhere.

The harness (`Input`, `lowered`, `scores`, in tests/plan_harness.py) is shared with
test_compiler_heads.py and test_compiler_fusion.py: it builds a `Lowerer` for one hand-made
expression and evaluates its plan nodes on one input as their specifications say (not
through `assemble`)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from plan_harness import Input, every_input, lowered, node_of, scores, selection

from compiler.errors import CompileError
from compiler.linear import ONE, Lin
from compiler.lower import Lowerer
from compiler.plan import Embedded, Head, Mlp
from compiler.precision import FLOAT32
from compiler.scores import MAX_SCORE_ERR, SelPlan, select_atoms, truth_table
from compiler.selectors import (
    causal_compatible,
    joiner,
    never_selects,
    quadratic_plan,
    representatives,
    sharp,
    value_classes,
    without_mask,
)
from compiler.testing import env_with
from compiler.values import vkey
from rasp import ir

VOCAB = ["a", "b", "c"]
N = 4


def assert_separates(lw: Lowerer, plan: SelPlan, sel: ir.Selector, n: int) -> None:
    """q.k is the threshold exactly on the pairs `sel` selects and <= threshold - 1 on the
    rest, on every input of length n over the Lowerer's vocabulary."""
    inputs = every_input(list(lw.vocab), n)
    for tokens, chosen in zip(inputs, selection(sel, inputs), strict=True):
        s = scores(lw, plan.q, plan.k, tokens)
        assert np.allclose(s[chosen], plan.threshold, atol=1e-9), tokens
        assert (s[~chosen] <= plan.threshold - 1 + 1e-9).all(), tokens


SELECTORS = {
    "one pair": "select(tokens, tokens, ==)",
    "one pair, composite": "select(indices, indices, <) or not select(indices, indices, >)",
    "and of two pairs": "select(tokens, tokens, ==) and select(indices, indices, <)",
    "or of two pairs": "select(tokens, tokens, ==) or select(indices, indices, <)",
    "a constant query": 'select(tokens, "a", ==) and select(indices, 0, >)',
}


@pytest.mark.parametrize("text", list(SELECTORS.values()), ids=list(SELECTORS))
def test_scores_are_the_threshold_exactly_where_the_selector_selects(text):
    lw, root = lowered(f"aggregate({text}, tokens)", VOCAB, N)
    assert isinstance(root, ir.Aggregate)
    plan = lw.selector(root.selector)
    assert not plan.blurred
    assert_separates(lw, plan, root.selector, N)


def test_an_or_of_two_pairs_needs_the_joint_table_and_gets_it():
    """No per-pair scores add up to an `or` of two pairs (see test_compiler_score_builders):
    `try_selector` gives up, and the joint table over (token, position) separates it."""
    lw, root = lowered(f"aggregate({SELECTORS['or of two pairs']}, tokens)", VOCAB, N)
    assert isinstance(root, ir.Aggregate)
    assert lw.try_selector(root.selector) is None
    plan = lw.joint_selector(root.selector)
    assert_separates(lw, plan, root.selector, N)
    joint = [s for s in plan.q.sources() + plan.k.sources() if isinstance(s, Mlp)]
    assert joint and all(len(p.values or []) == len(VOCAB) * N for p in joint)


def test_equality_of_positions_gets_three_quadratic_dimensions_when_weights_may_differ():
    lw, root = lowered("aggregate(select(indices, indices, ==), tokens)", VOCAB, 8)
    assert isinstance(root, ir.Aggregate)
    plan = lw.selector(root.selector, equal_weights=False)
    assert plan.q.rows == 3  # not a one-hot table over 8 positions
    inputs = [["a"] * 8]
    for tokens, chosen in zip(inputs, selection(root.selector, inputs), strict=True):
        s = scores(lw, plan.q, plan.k, tokens)
        assert np.allclose(s[chosen], 1.0) and (s[~chosen] <= 0.0 + 1e-9).all()


def _onehot_node(values: list[float], kind: str = "tok") -> Embedded:
    n = len(values)
    return Embedded("categorical", values, kind, table=np.eye(n), base=np.zeros(n), kind=kind)


@pytest.mark.parametrize(
    "values", [[0.0, 1.0, 2.0, 3.0, 4.0], [-3.0, 0.5, 1.0, 7.0, 20.0], [10.0, 10.25, 11.0, 12.5]]
)
def test_quadratic_plan_scores_one_on_equal_values_and_at_most_zero_elsewhere(values):
    k, q = _onehot_node(values), _onehot_node(values, "pos")
    qnum = Lin.of(q, len(values)).left(np.array([values]))
    plan = quadratic_plan(
        Lin.of(k, len(values)),
        np.array(values),
        qnum,
        np.array(values),
        Lin.of(q, len(values)),
        FLOAT32.eps,
    )
    x = Input(values, 1, values)  # k's 'tokens' and q's positions are the values' places
    qv = np.stack([x.value(plan.q, i) for i in range(len(values))])
    s = qv @ np.stack([x.value(plan.k, j) for j in range(len(values))]).T
    assert np.allclose(np.diag(s), 1.0)
    assert (s[~np.eye(len(values), dtype=bool)] <= 1e-9).all()
    assert plan.threshold == 1.0 and plan.bos_k is None


def test_quadratic_plan_for_a_numeric_query_puts_the_match_a_point_above_the_rest_and_bos():
    ks = [0.0, 1.0, 2.0, 4.0, 5.0]
    qs = [1.0, 2.0, 4.0]  # every query has a matching key (a selection never empty)
    k = _onehot_node(ks)
    mean = Head("numerical", qs, "q", base=np.zeros(1), head=None)
    plan = quadratic_plan(
        Lin.of(k, len(ks)), np.array(ks), Lin.of(mean, 1), np.array(qs), None, FLOAT32.eps
    )
    assert plan.bos_k is not None
    x = Input(ks, 1, ks)
    for qv in qs:
        qvec = plan.q.terms[mean][:, 0] * qv + plan.q.terms[ONE][:, 0]
        s = {kv: qvec @ x.value(plan.k, j) for j, kv in enumerate(ks)}
        others = [s[kv] for kv in ks if kv != qv] + [qvec @ plan.bos_k]
        assert max(others) <= s[qv] - 1 + 1e-9, qv


def _select(text: str) -> ir.Select:
    return node_of(text, ir.Select)


def test_value_classes_group_exactly_the_values_the_other_side_compares_alike():
    at = _select("select(tokens_int, tokens_int, <)")
    keys = [0, 0.5, 1, 1.5, 2, 2.5, 3]
    queries = [1, 2]
    cls = value_classes(at, keys, queries, keys=True)
    assert cls is not None
    rows = truth_table(at, keys, queries).T  # [key, query]: key < query
    for i, j in itertools.combinations(range(len(keys)), 2):
        assert (cls[i] == cls[j]) == bool((rows[i] == rows[j]).all()), (keys[i], keys[j])
    rep = representatives(keys, cls)
    assert [rep[vkey(v)] for v in keys] == [0, 0, 1, 1, 2, 2, 2]  # the first of each class
    # queries against every key: each query value is its own class
    assert value_classes(at, queries, keys, keys=False) is None


def _groups(sel: ir.Selector, sizes: dict[str, int]) -> tuple[list[list[ir.Select]], dict]:
    """The selects of sel grouped by (keys, queries) pair, with truth tables over the values
    each s-op named in `sizes` takes (0 .. size-1; a constant takes its one value)."""

    def vals(x: ir.IRNode) -> list[Any]:
        return [x.value] if isinstance(x, ir.Full) else list(range(sizes[x.label]))

    groups: dict[tuple[str, str], list[ir.Select]] = {}
    tables = {}
    for at in select_atoms(sel):
        groups.setdefault((at.keys.label, at.queries.label), []).append(at)
        tables[at.id] = truth_table(at, vals(at.keys), vals(at.queries))
    return list(groups.values()), tables


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ("select(tokens_int, tokens_int, ==) and not select(tokens_int, tokens_int, ==)", True),
        ("select(indices, indices, <) and select(indices, indices, >)", True),
        ("select(tokens_int, tokens_int, ==) and select(indices, indices, <)", False),
        (
            "select(indices, indices, <) and select(tokens_int, 1, ==) and "
            "select(indices, indices, >)",
            True,
        ),
        ("select(indices, indices, <) or select(indices, indices, >)", False),
        ("select(indices, 9, ==) and select(tokens_int, 0, ==)", True),  # 9 is no position
    ],
)
def test_never_selects_judges_each_pair_of_values_apart(text, never):
    sel = env_with().expression(text)
    assert isinstance(sel, ir.Selector)
    groups, tables = _groups(sel, {"indices": 4, "tokens_int": 3})
    assert never_selects(sel, groups, tables) is never


def test_the_causal_mask_replaces_the_prefix_select_only_under_and():
    upto = "select(indices, indices, <=)"
    same = env_with().expression("select(tokens, tokens, ==)")
    both = env_with().expression(f"{upto} and select(tokens, tokens, ==)")
    assert isinstance(both, ir.Selector) and isinstance(same, ir.Select)
    left = without_mask(both)
    assert isinstance(left, ir.Select) and (left.keys.label, left.op) == ("tokens", "==")
    alone = env_with().expression(upto)
    assert isinstance(alone, ir.Selector) and without_mask(alone) is None
    twice = env_with().expression(f"{upto} and {upto}")
    assert isinstance(twice, ir.Selector) and without_mask(twice) is None
    either = env_with().expression(f"{upto} or select(tokens, tokens, ==)")
    assert isinstance(either, ir.Selector) and without_mask(either) is either
    assert without_mask(same) is same
    assert causal_compatible(both) and causal_compatible(alone)
    assert not causal_compatible(either) and not causal_compatible(same)


def test_joiner_puts_each_input_s_parts_in_their_places():
    flat = joiner([[0, 2], [1], [3]], 4)
    assert flat(("i0", "i2"), "t", 7) == ("i0", "t", "i2", 7)
    assert joiner([[1], [0]], 2)("b", "a") == ("a", "b")


def test_sharp_refuses_scores_blurred_past_the_margin():
    sel = _select("select(tokens, tokens, ==)")
    one = Lin.const([1.0])
    ok = SelPlan(one, one, 1.0, err=MAX_SCORE_ERR)
    assert sharp(ok, sel, FLOAT32) is ok
    with pytest.raises(CompileError, match="attention scores could be off") as err:
        sharp(SelPlan(one, one, 1.0, err=MAX_SCORE_ERR * 1.01), sel, FLOAT32)
    assert err.value.precision
