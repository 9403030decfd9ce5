"""The attention blocks of `compiler/heads.py` on hand-built inputs: `with_default` and
`Spread` on value lists made here, and the heads the `Lowerer` builds for hand-made
`aggregate`s and `selector_width`s, evaluated by their specifications on every input of
length 4 (the harness of test_compiler_selectors.py, not `assemble`): each query's weight
falls on exactly the keys the interpreter's selection matrix selects (less than LEAK
elsewhere, equal shares among them), the value read is the interpreter's, and a width
head's BOS share is 1/(w+1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from plan_harness import Input, every_input, lowered, selection

from compiler.heads import Spread, with_default
from compiler.normalise import Width
from compiler.plan import LEAK, Head, Linear, Mlp, PNode
from compiler.testing import env_with
from compiler.values import vkey
from rasp import ir
from rasp.interpreter import evaluate_batch

N = 4


@pytest.mark.parametrize(
    ("domain", "default"),
    [(["a", "b"], "_"), (["a", "b", "c"], "b"), ([1, 2, 5], 0), ([True, 3], 3)],
)
def test_with_default_embeds_each_value_in_its_own_column_and_the_default_as_base(domain, default):
    out = with_default(domain, default)
    keys = [vkey(v) for v in out.values]
    assert len(set(keys)) == len(keys) == len({vkey(v) for v in [*domain, default]})
    assert (out.embed.sum(axis=0) == 1).all() and set(np.unique(out.embed)) <= {0.0, 1.0}
    for j, v in enumerate(domain):
        assert vkey(out.values[int(out.embed[:, j].argmax())]) == vkey(v)
    assert out.base.sum() == 1 and vkey(out.values[int(out.base.argmax())]) == vkey(default)


def test_spread_is_the_farthest_value_from_the_default_and_whether_all_lie_on_one_side():
    assert Spread.of([0, 1, 3], 0.0) == Spread(3.0, True)
    assert Spread.of([0, 1, 3], 2.0) == Spread(2.0, False)
    assert Spread.of([-4, -1], 0.0) == Spread(4.0, True)
    assert Spread.of([0.5], 0.5) == Spread(0.0, True)
    assert Spread.of(None, 0.0) == Spread(1e6, False)


def decoded(x: Input, p: PNode, i: int) -> Any:
    """p's value at position i: its one-hot's value, or the number."""
    enc = x.value(p.lin, i) if isinstance(p, Linear) else x.encoding(p, i)
    if p.enc == "numerical":
        return float(enc[0])
    assert p.values is not None
    return p.values[int(enc.argmax())]


AGGREGATES = {
    "mean over a token match": ("aggregate(select(tokens, tokens, ==), tokens_int)", [1, 2, 4]),
    "mean over earlier keys": ("aggregate(select(indices, indices, <), tokens_int * 3, 1)", [0, 2]),
    "select one, string default": (
        'aggregate(select(indices, indices - 1, ==), tokens, "_")',
        ["a", "b", "c"],
    ),
    "and of two pairs, may be empty": (
        "aggregate(select(tokens, tokens, ==) and select(indices, indices, >), tokens_int, 7)",
        [1, 2],
    ),
}


@pytest.mark.parametrize(("expr", "vocab"), list(AGGREGATES.values()), ids=list(AGGREGATES))
def test_an_aggregate_head_weighs_exactly_the_selected_keys_and_reads_their_mean(expr, vocab):
    lw, root = lowered(expr, vocab, N)
    assert isinstance(root, ir.Aggregate)
    p = lw.lower(root)
    assert isinstance(p, Head)
    inputs = every_input(vocab, N)
    want = evaluate_batch(root, inputs)
    for tokens, chosen, row in zip(inputs, selection(root.selector, inputs), want, strict=True):
        x = Input(vocab, N, tokens)
        for i in range(N):
            w = x.weights(p.head, i)  # [BOS, keys]
            picked = np.concatenate([[not chosen[i].any()], chosen[i]])
            assert w[~picked].sum() < LEAK, (tokens, i)
            assert np.allclose(w[picked], 1 / picked.sum(), rtol=0, atol=1e-9), (tokens, i)
            got = decoded(x, p, i)
            if p.enc == "numerical":
                assert abs(got - float(row[i])) <= p.err + 1e-12, (tokens, i)
            else:
                assert vkey(got) == vkey(row[i]), (tokens, i)


WIDTHS = {  # the selector, and how many widths the lowering sums
    "one pair": ("select(tokens, tokens, ==)", 1),
    "earlier keys": ("select(indices, indices, <)", 1),
    "and of two pairs": ("select(tokens, tokens, ==) and select(indices, indices, <)", 1),
    "or of two pairs, split": ("select(tokens, tokens, ==) or select(indices, indices, <)", 3),
}


@pytest.mark.parametrize(("text", "widths"), list(WIDTHS.values()), ids=list(WIDTHS))
def test_a_width_is_bos_s_share_of_the_selected_keys_read_by_an_mlp(text, widths):
    vocab = ["a", "b"]
    lw, root = lowered(f"selector_width({text})", vocab, N)
    assert isinstance(root, Width)
    sel = root.selector
    p = lw.lower(root)
    parts = list(p.lin.sources()) if isinstance(p, Linear) else [p]
    assert len(parts) == widths and all(isinstance(m, Mlp) for m in parts)
    if widths > 1:
        assert p.role == "sum of widths"  # width(a) + width(b) - width(a and b)
    inputs = every_input(vocab, N)
    want = evaluate_batch(env_with().expression(f"selector_width({text})"), inputs)
    for tokens, chosen, row in zip(inputs, selection(sel, inputs), want, strict=True):
        x = Input(vocab, N, tokens)
        for i in range(N):
            if len(parts) == 1:
                (share,) = [s for s in parts[0].mlp.z.sources() if isinstance(s, Head)]
                w = x.weights(share.head, i)
                assert abs(w[0] - 1 / (chosen[i].sum() + 1)) < LEAK, (tokens, i)
                assert abs(x.encoding(share, i)[0] - w[0]) < 1e-12
            got = decoded(x, p, i)
            assert got == row[i], (tokens, i)


def test_a_mean_of_different_values_avoids_scores_with_cancelling_terms():
    """Keys selected by token equality hold different positions: their weights must be
    equal, so the head keeps the one-hot table's scores, not the 3-dimensional quadratic
    form, whose float32 error (large cancelling squares) would weigh them unequally."""
    lw, root = lowered("aggregate(select(tokens_int, tokens_int, ==), indices)", [1, 2, 3, 4, 5], N)
    assert isinstance(root, ir.Aggregate)
    p = lw.lower(root)
    assert isinstance(p, Head) and p.role == "attention (mean)"
    quadratic = lw.selector(root.selector, equal_weights=False)
    assert quadratic.q.rows == 3 and p.head.q.rows == 5
    assert p.head.score_err < quadratic.err / 10
