"""Attention scores: read-outs q and k whose dot product is a threshold T on the pairs a
selector selects and at most T - 1 on the others, built from the selector's truth table over
the values its inputs can take (a factorised table, or per-pair tables whose scores add up),
with a bound on the rounding error of q.k (float32, or float64: see `precision`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.linear import ONE, Lin
from compiler.plan import HeadSpec, err_of, errs_of
from compiler.precision import F32_EPS
from compiler.unique import distinct_cols, unique_cols, unique_rows
from compiler.values import is_numeric_like
from compiler.valuesets import numeric_arrays
from rasp import ir

MAX_SCORE_ERR = 0.1  # largest rounding error of q.k a head may have (HeadSpec.beta's margins)


def _vectors(lin: Lin, limit: int = 4096) -> np.ndarray | None:
    """Every vector the read-out can take at a non-BOS position (as columns): one column of
    each one-hot source's matrix, or each value of a numeric one, summed over sources. None
    when there are more than `limit`, or a numeric source's values are unknown."""
    out = lin.terms.get(ONE, np.zeros((lin.rows, 1)))[:, :1]
    for s in lin.sources():
        m, p = lin.terms[s], s
        if p.enc == "categorical":
            cols = m
        elif p.values is not None and all(is_numeric_like(v) for v in p.values):
            cols = m[:, :1] * np.array([float(v) for v in p.values])[None, :]
        else:
            return None
        cols = distinct_cols(cols)
        if out.shape[1] * cols.shape[1] > limit:
            return None
        out = (out[:, :, None] + cols[:, None, :]).reshape(lin.rows, -1)
    return out


def _bound(lin: Lin, vecs: np.ndarray | None) -> np.ndarray:
    """Per row, the largest magnitude the read-out can take at a non-BOS position (`vecs`:
    its `_vectors`)."""
    if vecs is not None:
        return np.abs(vecs).max(axis=1)
    out = np.abs(lin.terms.get(ONE, np.zeros((lin.rows, 1)))[:, 0])
    for s in lin.sources():
        p = s
        big = (
            1.0
            if p.enc == "categorical"
            else max((abs(float(v)) for v in p.values), default=0.0)
            if p.values is not None
            else np.inf
        )
        out = out + np.abs(lin.terms[s]).max(axis=1) * big
    return out


def score_err(q: Lin, k: Lin, eps: float = F32_EPS) -> float:
    """Bound on the rounding error of q.k (`eps`: the unit roundoff): q's error read against
    every vector k can take, and k's against every q, plus rounding of the products (about
    one unit in the last place per nonzero product). A side with too many vectors to list
    is bounded row by row."""
    vq, vk = _vectors(q), _vectors(k)
    qmax, kmax = _bound(q, vq), _bound(k, vk)

    def against(lin: Lin, others: np.ndarray | None, big: np.ndarray) -> float:
        if others is not None:
            return err_of(lin.left(others.T))
        return float(errs_of(lin) @ big)

    if vq is not None and vk is not None:
        terms = (vq != 0).astype(float).T @ (vk != 0).astype(float)
        rnd = float((eps * (terms + 1) * (np.abs(vq).T @ np.abs(vk))).max())
    else:
        rnd = eps * (q.rows + 1) * float(qmax @ kmax)
    return float(against(q, vk, kmax) + against(k, vq, qmax) + rnd)


@dataclass
class SelPlan:
    """A selector's scores: q.k == threshold on selected pairs, <= threshold - 1 elsewhere."""

    q: Lin
    k: Lin
    threshold: float
    bos_k: np.ndarray | None = None  # set when selections are never empty (see HeadSpec)
    err: float = 0.0  # bound on the rounding error of q.k

    @property
    def blurred(self) -> bool:
        """Float32 could take more than a fifth of the 1/2 gap between the selected keys and
        BOS (1 to the others) from the scores."""
        return self.err > MAX_SCORE_ERR

    @staticmethod
    def of(
        q: Lin, k: Lin, threshold: float, bos_k: np.ndarray | None = None, eps: float = F32_EPS
    ) -> SelPlan:
        return SelPlan(q, k, threshold, bos_k, score_err(q, k, eps))

    def head(self, v: Lin, vmax: float, selector: ir.Selector) -> HeadSpec:
        """The head that reads v from the keys this selects (BOS holds the default)."""
        bos = "none" if self.bos_k is not None else "half"
        return HeadSpec(
            self.q, self.k, self.threshold, bos, v, vmax, selector, self.bos_k, self.err
        )


def select_atoms(sel: ir.Selector) -> list[ir.Select]:
    """The distinct `select`s a (composite) selector is made of."""
    if isinstance(sel, ir.Select):
        return [sel]
    out: dict[int, ir.Select] = {}
    for s in _combined(sel).inputs:
        for a in select_atoms(s):
            out[a.id] = a
    return list(out.values())


def _combined(sel: ir.Selector) -> ir.SelectorCombine:
    """A selector that is not a `select` is an and / or / not of selectors."""
    if not isinstance(sel, ir.SelectorCombine):
        raise TypeError(f"unknown selector {type(sel).__name__}")
    return sel


def truth_table(at: ir.Select, keys: Sequence[Any], queries: Sequence[Any]) -> np.ndarray:
    """[query value, key value] -> keys OP queries (False where Python raises). Numbers are
    compared all at once (a million pairs at max_len 1,000); other values pair by pair."""
    pred = at.predicate()
    kf, qf = numeric_arrays(keys), numeric_arrays(queries)
    if kf is not None and qf is not None:  # numbers numpy compares as Python does
        return np.asarray(pred(kf[0][None, :], qf[0][:, None]), dtype=bool).reshape(
            len(queries), len(keys)
        )
    t = np.zeros((len(queries), len(keys)), dtype=bool)
    for qi, qv in enumerate(queries):
        for ki, kv in enumerate(keys):
            try:
                t[qi, ki] = bool(pred(kv, qv))
            except Exception:  # noqa: BLE001 - a comparison that raises selects nothing
                t[qi, ki] = False
    return t


def combine(sel: ir.Selector, truth: dict[int, np.ndarray]) -> np.ndarray:
    if isinstance(sel, ir.Select):
        return truth[sel.id]
    sel = _combined(sel)
    parts = [combine(s, truth) for s in sel.inputs]
    if sel.op == "and":
        return parts[0] & parts[1]
    if sel.op == "or":
        return parts[0] | parts[1]
    return ~parts[0]


def bilinear(table: np.ndarray, qlin: Lin, klin: Lin) -> tuple[Lin, Lin]:
    """q, k with q.k = table[query value, key value], of width min(distinct rows, columns)."""
    cols, col_of = unique_cols(table)
    rows, row_of = unique_rows(table)
    if cols.shape[1] <= rows.shape[0]:
        kmat = np.zeros((cols.shape[1], table.shape[1]))
        kmat[col_of, np.arange(table.shape[1])] = 1.0
        qmat = cols.T  # [class, query value]
    else:
        qmat = np.zeros((rows.shape[0], table.shape[0]))
        qmat[row_of, np.arange(table.shape[0])] = 1.0
        kmat = rows  # [class, key value]
    return qlin.left(qmat), klin.left(kmat)


def additive_scores(
    sel: ir.Selector, groups: list[list[ir.Select]], tables: dict[int, np.ndarray]
) -> tuple[list[np.ndarray], float] | None:
    """Per-group integer scores whose sum is T exactly on selected pairs, <= T-1 elsewhere
    (an `and` of selects on different values, say). None when none is found."""
    states, state_of = [], []
    for g in groups:
        stack = np.stack([tables[a.id] for a in g], axis=-1)  # [q, k, atoms]
        flat = stack.reshape(-1, len(g))
        uniq, inv = unique_rows(flat)
        states.append(uniq)
        state_of.append(inv.reshape(stack.shape[:2]))
    unknowns = sum(len(s) - 1 for s in states)
    if unknowns > 7:
        return None
    combos = list(itertools.product(*(range(len(s)) for s in states)))
    truth = {}
    for gi, g in enumerate(groups):
        for ai, a in enumerate(g):
            truth[a.id] = np.array([states[gi][c[gi], ai] for c in combos], dtype=bool)
    target = combine(sel, truth)
    choices = np.array(
        list(itertools.product((0, 1, -1, 2, -2), repeat=unknowns)), dtype=np.float64
    ).reshape(5**unknowns, unknowns)
    # sums[choice, combo]
    sums = np.zeros((len(choices), len(combos)))
    col = 0
    for gi, s in enumerate(states):
        idx = np.array([c[gi] for c in combos])
        w = np.concatenate([np.zeros((len(choices), 1)), choices[:, col : col + len(s) - 1]], 1)
        sums += w[:, idx]
        col += len(s) - 1
    if not target.any():
        return None
    t_sel = sums[:, target]
    ok = np.all(t_sel == t_sel[:, :1], axis=1)
    if (~target).any():
        ok &= np.all(sums[:, ~target] <= t_sel[:, :1] - 1, axis=1)
    hits = np.flatnonzero(ok)
    if not len(hits):
        return None
    best = choices[hits[0]]
    threshold = float(t_sel[hits[0], 0])
    out, col = [], 0
    for gi, s in enumerate(states):
        w = np.concatenate([[0.0], best[col : col + len(s) - 1]])
        col += len(s) - 1
        out.append(w[state_of[gi]])
    return out, threshold
