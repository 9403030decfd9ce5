"""The attention-score builders of `compiler/scores.py` on hand-built inputs (tables, read-outs
and plan nodes made here, no lowering): `bilinear` factorises a table, `additive_scores`
finds per-pair scores whose sum separates an `and` of selects on different pairs, `combine`
and `select_atoms` read composite selectors, `score_err` bounds the float32 error of q.k, and
`HeadSpec`'s softmax scale keeps the weight on unselected keys under `LEAK`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from plan_harness import node_of

from compiler.linear import Lin
from compiler.plan import LEAK, Embedded, HeadSpec
from compiler.scores import additive_scores, bilinear, combine, score_err, select_atoms
from compiler.testing import env_with
from rasp import ir

SEED = 15
RNG = np.random.default_rng(SEED)  # the hand-built tables (drawn once, at import)


@pytest.mark.parametrize(
    "table",
    [
        RNG.integers(0, 2, size=(5, 7)).astype(float),
        RNG.integers(0, 2, size=(7, 3)).astype(float),
        RNG.integers(-2, 3, size=(6, 6)).astype(float),
        np.eye(4),
        np.ones((1, 4)),
        np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
    ],
    ids=["0/1 wide", "0/1 tall", "integers", "identity", "one row", "repeated rows"],
)
def test_bilinear_reproduces_the_table_at_the_smaller_distinct_width(table):
    q, k = bilinear(table, Lin.of("queries", table.shape[0]), Lin.of("keys", table.shape[1]))
    qm, km = q.terms["queries"], k.terms["keys"]  # [width, query values], [width, key values]
    assert np.array_equal(qm.T @ km, table)
    rows, cols = np.unique(table, axis=0).shape[0], np.unique(table, axis=1).shape[1]
    assert q.rows == k.rows == min(rows, cols)


def _selector(text: str) -> ir.Selector:
    return node_of(text, ir.Selector)


def test_select_atoms_are_the_distinct_selects_and_combine_follows_the_operators():
    env = env_with("same = select(tokens, tokens, ==);")
    sel = env.expression("(same and not select(indices, indices, <)) or same")
    atoms = select_atoms(sel)
    assert len(atoms) == 2  # the repeated select is one atom
    same, before = sorted(atoms, key=lambda a: a.op != "==")
    a = RNG.integers(0, 2, size=(4, 4)).astype(bool)
    b = RNG.integers(0, 2, size=(4, 4)).astype(bool)
    got = combine(sel, {same.id: a, before.id: b})
    assert np.array_equal(got, (a & ~b) | a)


def _pair_tables(sel: ir.Selector, tokens: list[str], n: int):
    """Each atom's truth table [query value, key value] over its own pair's values."""
    tables = {}
    for at in select_atoms(sel):
        values = tokens if isinstance(at.keys, ir.Tokens) else list(range(n))
        pred = at.predicate()
        tables[at.id] = np.array([[bool(pred(kv, qv)) for kv in values] for qv in values])
    return tables


def test_additive_scores_separate_an_and_of_selects_on_two_pairs():
    sel = _selector("select(tokens, tokens, ==) and select(indices, indices, <)")
    tokens, n = ["a", "b", "c"], 5
    tables = _pair_tables(sel, tokens, n)
    groups = [[a] for a in select_atoms(sel)]
    found = additive_scores(sel, groups, tables)
    assert found is not None
    weights, threshold = found
    for cells in itertools.product(
        *(
            itertools.product(range(len(t)), range(len(t[0])))
            for t in (tables[g[0].id] for g in groups)
        )
    ):
        score = sum(w[qi, ki] for w, (qi, ki) in zip(weights, cells, strict=True))
        selected = all(tables[g[0].id][qi, ki] for g, (qi, ki) in zip(groups, cells, strict=True))
        if selected:
            assert score == threshold
        else:
            assert score <= threshold - 1


def test_an_or_of_selects_on_two_pairs_has_no_additive_scores():
    # w1 + w2 would have to be T where either holds and below T where neither does:
    # w1 = T, w2 = T and w1 + w2 = T force T = 0, and then 0 + 0 is not below it
    sel = _selector("select(tokens, tokens, ==) or select(indices, indices, <)")
    tables = _pair_tables(sel, ["a", "b"], 4)
    assert additive_scores(sel, [[a] for a in select_atoms(sel)], tables) is None


def _onehot(label: str, size: int) -> Embedded:
    return Embedded(
        "categorical",
        list(range(size)),
        label,
        table=np.eye(size),
        base=np.zeros(size),
        kind="tok",
    )


def _rounding_up(rng: np.random.Generator, shape) -> np.ndarray:
    """Weights in [1, 2) just under half a float32 step above a float32 number: float32 rounds
    every one of them down, so the errors of a dot product add up instead of cancelling."""
    base = rng.uniform(1, 2, size=shape).astype(np.float32)
    return base.astype(np.float64) + 0.499 * np.spacing(base).astype(np.float64)


def _float32_dot(a: np.ndarray, b: np.ndarray) -> float:
    """A dot product summed in float32 in order (the worst order: no pairwise summation)."""
    total = np.float32(0)
    for x, y in zip(a, b, strict=True):
        total = np.float32(total + x * y)
    return float(total)


def test_score_err_bounds_the_float32_error_of_every_q_dot_k():
    """q and k read one-hots through weights float32 cannot hold exactly; the float32 dot
    product of every (query value, key value) pair stays within the bound of the exact one,
    and the bound is no more than 20x the worst error these weights reach (a looser one
    would refuse heads float32 computes well enough)."""
    rng = np.random.default_rng(SEED)
    qsrc, ksrc = _onehot("q", 6), _onehot("k", 5)
    for scale in (1.0, 1e3, 1e6):
        qm, km = _rounding_up(rng, (8, 6)) * scale, _rounding_up(rng, (8, 5))
        bound = score_err(Lin(8, {qsrc: qm}), Lin(8, {ksrc: km}))
        exact = qm.T @ km
        q32, k32 = qm.astype(np.float32), km.astype(np.float32)
        worst = max(
            abs(_float32_dot(q32[:, i], k32[:, j]) - exact[i, j])
            for i in range(6)
            for j in range(5)
        )
        assert bound / 20 < worst <= bound, (scale, worst, bound)


def _softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max())
    return e / e.sum()


@pytest.mark.parametrize("bos", ["half", "equal"])
@pytest.mark.parametrize("n", [1, 8, 512])
@pytest.mark.parametrize(("vmax", "score_err"), [(1.0, 0.0), (100.0, 0.05), (3.0, 0.12)])
def test_the_softmax_scale_leaks_under_leak_at_the_worst_scores(bos, n, vmax, score_err):
    """One selected key against n others at the closest scores float32 error allows (the
    keys 1 below less twice the error, BOS 1/2 below in 'half' mode): the others' weight
    times the widest value gap (2 vmax) stays under LEAK; and a mean of selected keys whose
    scores float32 pulls 2 x score_err apart errs by at most `unequal_err`."""
    spec = HeadSpec(Lin(1), Lin(1), 1.0, bos, Lin(1), vmax, score_err=score_err)
    beta = spec.beta(n)
    gap = (0.5 if bos == "half" else 1.0) - 2 * score_err
    scores = beta * np.array([1.0] + [1.0 - gap] * n)
    leaked = float(_softmax(scores)[1:].sum())
    assert leaked * 2 * max(vmax, 1.0) <= LEAK
    assert leaked * 2 * max(vmax, 1.0) > LEAK / 100  # and not by a scale far sharper
    # several selected keys: half score 2 x score_err higher, holding vmax; half hold 0
    k = 2 * (n // 2 + 1)
    w = _softmax(beta * np.array([2 * score_err] * (k // 2) + [0.0] * (k // 2)))
    mean = float(w[: k // 2].sum()) * vmax
    assert abs(mean - vmax / 2) <= spec.unequal_err(n) + 1e-12
