"""Fusion (`compiler/fusion.py`) on hand-built chains and trees of elementwise operations
over heads: what one MLP reads (`boundary`, `frontier`, `_options`) and what `fused`
keeps. Each decision is checked for what it should fuse and no more: the boundary stops
at heads and embeddings (and at the token itself for tests on it), the frontier is a cut
of the tree under FUSE_TUPLES that absorbs every MLP it can, and the MLP chosen computes
the interpreter's values (the harness of test_compiler_selectors.py)."""

from __future__ import annotations

import numpy as np
from plan_harness import Input, every_input, lowered

from compiler.discretise import discretise
from compiler.fusion import FUSE_TUPLES, MAX_LEAVES, PRECISE
from compiler.lower import Lowerer
from compiler.plan import Head, Linear, Mlp, PNode
from compiler.tabulate import tree_outputs
from compiler.testing import env_with
from compiler.values import vkey
from rasp import ir
from rasp.interpreter import evaluate_batch


def mlps_under(p: PNode) -> list[Mlp]:
    """The MLPs that computing p runs, each once."""
    found: dict[int, Mlp] = {}
    todo = [p]
    while todo:
        x = todo.pop()
        if isinstance(x, Mlp):
            if id(x) in found:
                continue
            found[id(x)] = x
            todo += x.mlp.z.sources()
        elif isinstance(x, Linear):
            todo += x.lin.sources()
        elif isinstance(x, Head):
            todo += x.head.q.sources() + x.head.k.sources() + x.head.v.sources()
    return list(found.values())


def assert_computes(lw: Lowerer, p: PNode, expr: str, source: str, inputs: list[list]) -> None:
    """p's value at every position of every input is the interpreter's."""
    want = evaluate_batch(env_with(source).expression(expr), inputs)
    for tokens, row in zip(inputs, want, strict=True):
        x = Input(list(lw.vocab), lw.n, tokens)
        for i, v in enumerate(row):
            enc = x.value(p.lin, i) if isinstance(p, Linear) else x.encoding(p, i)
            assert p.values is not None and p.enc == "categorical"
            assert vkey(p.values[int(enc.argmax())]) == vkey(v), (tokens, i)


CHAIN = "m = aggregate(select(indices, indices, <), tokens_int, 0); y = ((m * m) % 3 + m) % 2;"


def test_a_chain_over_one_head_is_one_mlp_reading_that_head():
    lw, root = lowered("y", [0, 1, 2], 4, CHAIN)
    m = root.children()[0].children()[1]  # ((m * m) % 3) + m: its right input
    assert m.label == "m" and isinstance(m, ir.Aggregate)
    assert [x.label for x in lw.boundary(root) or []] == ["m"]
    p = lw.lower(root)
    (mlp,) = mlps_under(p)  # one MLP for the three operations, no more
    assert mlp.mlp.inputs == [lw.lower(m)]
    assert_computes(lw, p, "y", CHAIN, every_input([0, 1, 2], 4))


STEPS = """
w = selector_width(select(tokens, tokens, ==));
x = 0;
x = 1 if tokens == "a" and w > 1 else x;
x = 2 if tokens == "b" and w > 2 else x;
x = 3 if tokens == "c" and w < 2 else x;
x = 4 if tokens == "a" and w == 3 else x;
"""


def test_tests_on_the_token_are_read_as_the_token_itself():
    """A chain of conditional reassignments testing the token: its leaves are each test
    and the width; collapsed, the token and the width (two inputs, one MLP)."""
    lw, root = lowered("x", ["a", "b", "c"], 5, STEPS)
    plain = lw.boundary(root) or []
    assert sorted(x.label for x in plain) == sorted(
        ['tokens == "a"', 'tokens == "b"', 'tokens == "c"', "w"]
    )
    few = lw.boundary(root, collapse=True) or []
    assert sorted(type(x).__name__ for x in few) == ["Tokens", "Width"]
    p = lw.lower(root)
    assert isinstance(p, Mlp) and [i.label for i in p.mlp.inputs] == [x.label for x in few]
    inputs = every_input(["a", "b", "c"], 5)[::7]
    assert_computes(lw, p, "x", STEPS, inputs)


def _means(k: int) -> str:
    """k different means, and their sum mod 2 over the first MAX_LEAVES (`first`) and over
    all k (`all`)."""

    def total(m: int) -> str:
        return " + ".join(f"a{i}" for i in range(m))

    means = (
        f"a{i} = aggregate(select(indices, indices, <), tokens_int * {i + 1}, 0);" for i in range(k)
    )
    return "".join(means) + f"first = ({total(MAX_LEAVES)}) % 2; all = ({total(k)}) % 2;"


def test_a_tree_over_more_than_max_leaves_heads_has_no_boundary():
    source = _means(MAX_LEAVES + 1)
    lw, root = lowered("first", [0, 1], 3, source)
    assert len(lw.boundary(root) or []) == MAX_LEAVES
    lw, root = lowered("all", [0, 1], 3, source)
    assert lw.boundary(root) is None


WIDTHS = """
w1 = selector_width(select(tokens, tokens, ==));
w2 = selector_width(select(indices, indices, <));
w3 = selector_width(select(tokens, tokens, !=));
w4 = selector_width(select(indices, indices, >));
y = ((w1 * w2) % 7 + (w3 * w4) % 7) % 7;
"""


def _tree() -> tuple[Lowerer, ir.SOp]:
    """Four widths of 10 values each at max_len 9: 10^4 tuples, over FUSE_TUPLES."""
    return lowered("y", ["a", "b"], 9, WIDTHS)


def test_the_frontier_is_a_cut_under_the_limit_that_absorbs_every_mlp_it_can():
    lw, root = _tree()
    whole = lw.boundary(root)
    assert whole is not None and len(whole) == 4 and lw._tuples(whole) > FUSE_TUPLES
    frontier = lw.frontier(root)
    keys = {lw.keys.of(x) for x in frontier}
    assert lw._tuples(frontier) <= FUSE_TUPLES
    # a cut: every path from the root down to a head or embedding passes through it
    todo = list(root.children())
    while todo:
        x = todo.pop()
        if lw.keys.of(x) in keys or isinstance(x, ir.Full):
            continue
        assert lw._fusable(x), f"{x.label} is under no frontier leaf"
        todo += x.children()
    # absorbing: every leaf computed by an MLP that could be fused is too many tuples
    for x in frontier:
        if lw._fusable(x) and isinstance(lw.lower(x), Mlp):
            rest = [y for y in frontier if y is not x] + list(x.children())
            assert lw._tuples(rest) > FUSE_TUPLES, x.label
    # some MLP was absorbed: fewer layers than reading the direct inputs
    assert keys != {lw.keys.of(c) for c in root.children()}


def test_options_come_fewest_layers_first_each_once():
    lw, root = _tree()
    few = lw.boundary(root, collapse=True)
    options = [[lw.keys.of(x) for x in o] for o in lw._options(root, few)]
    frontier = [lw.keys.of(x) for x in lw.frontier(root)]
    direct = [lw.keys.of(c) for c in root.children()]
    assert options == [frontier, direct]  # the whole tree is over FUSE_TUPLES: not offered


def test_fused_keeps_the_most_precise_when_none_is_precise_enough():
    """Over the frontier the MLP's read-out error is above PRECISE, so `fused` tries the
    direct inputs too and keeps the MLP with the smaller error."""
    lw, root = _tree()
    p = lw.fused(root)
    made = []
    for leaves in (lw.frontier(root), list(root.children())):

        def outputs(groups, leaves=leaves):
            return tree_outputs(root, leaves, groups, lw.keys.of, {})

        ins = [lw.lower(x) for x in leaves]
        made.append(discretise(ins, outputs, "y", root, "MLP", lw.n, lw.pnode, lw.prec))
    errs = [m.read_err(np.eye(m.encdim)) for m in made]
    assert errs[0] >= PRECISE  # (else the frontier's MLP would have been kept)
    assert isinstance(p, Mlp) and p.read_err(np.eye(p.encdim)) == min(errs)
    assert [i.label for i in p.mlp.inputs] == [
        i.label for i in made[int(np.argmin(errs))].mlp.inputs
    ]
    inputs = [list(t) for t in np.random.default_rng(0).choice(["a", "b"], size=(6, 9))]
    assert_computes(lw, p, "y", WIDTHS, inputs)


def test_tests_of_one_head_s_value_collapse_into_that_value():
    """Three tests of a select-one head's value (each read linearly, so no MLP to absorb)
    take 2 x 2 x 2 tuples; the head itself takes 4 values: the frontier reads it."""
    source = (
        'h = aggregate(select(indices, indices - 1, ==), tokens, "_");'
        'y = 1 if h == "a" else (2 if h == "b" else (3 if h == "c" else 4));'
    )
    lw, root = lowered("y", ["a", "b", "c"], 4, source)
    assert [x.label for x in lw.frontier(root)] == ["h"]
    p = lw.lower(root)
    assert isinstance(p, Mlp) and [i.label for i in p.mlp.inputs] == ["h"]
    assert_computes(lw, p, "y", source, every_input(["a", "b", "c"], 4))
