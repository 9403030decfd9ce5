"""Selectors as attention scores: q and k read-outs whose dot product is a threshold on the
pairs a selector selects and at least 1 lower elsewhere (see `scores`): one table per
(keys, queries) pair, per-pair tables that add up, a quadratic form for equality of numbers,
or one joint table over every input; the causal mask stands for `select(indices, indices,
<=)` when every head allows it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler import patterns
from compiler.compare import points_near
from compiler.discretise import pointwise
from compiler.errors import PRECISION, CompileError
from compiler.linear import Lin, stack_all
from compiler.plan import Linear, PNode, read
from compiler.precision import FLOAT64, Precision
from compiler.scores import SelPlan, additive_scores, bilinear, combine, select_atoms, truth_table
from compiler.unique import unique_rows
from compiler.values import is_number, vkey
from rasp import ir


@dataclass
class Side:
    """A select's keys and queries, as one-hot plan nodes and their read-outs."""

    keys: PNode
    klin: Lin
    queries: PNode
    qlin: Lin


@dataclass
class Pairs:
    atoms: list[ir.Select]
    sides: dict[int, Side]  # by select id
    groups: list[list[ir.Select]]  # selects comparing the same (keys, queries) pair
    tables: dict[int, np.ndarray]  # by select id: [query value, key value] -> selected


class Selectors:
    """Mixed into `lower.Lowerer` (uses its lower, onehot, numeric, mlp and analysis)."""

    a: Any
    causal: bool
    lower: Callable[[ir.IRNode], PNode]
    onehot: Callable[..., tuple[PNode, Lin]]
    numeric: Callable[..., Lin]
    mlp: Callable[..., PNode]
    prec: Precision  # the model's float type
    classes: dict[tuple[int, tuple[int, ...]], PNode]  # see `side_onehot`
    as_number: Callable[[ir.IRNode], PNode]
    pnode: Callable[..., PNode]
    footprint: Callable[[ir.IRNode], frozenset[str]]
    embedded_tuple: Callable[..., PNode]

    def selector(
        self, sel: ir.Selector, need_threshold: bool = False, equal_weights: bool = True
    ) -> SelPlan:
        """q, k read-outs with q.k == T on selected pairs and <= T-1 elsewhere.
        `equal_weights`: several selected keys must get exactly equal weights (a mean, a
        width), so no scores computed from large cancelling terms (the quadratic form)."""
        s = self.strip_causal(sel)
        if s is None:  # every key the causal mask lets through
            return SelPlan(Lin.const([1.0]), Lin.const([1.0]), 1.0)
        if isinstance(s, ir.Select) and s.op == "==" and not equal_weights:
            quad = self.quadratic(s, need_threshold)
            if quad is not None:
                return quad
        plan = self.try_selector(s)
        if plan is None:
            plan = self.joint_selector(s)
        return sharp(plan, s, self.prec)

    def strip_causal(self, sel: ir.Selector | None) -> ir.Selector | None:
        """In a causal model, `select(indices, indices, <=)` is the mask itself: drop it."""
        return without_mask(sel) if self.causal and sel is not None else sel

    def quadratic(self, at: ir.Select, need_threshold: bool) -> SelPlan | None:
        """keys == queries on numbers with 3 (or 2) dimensions instead of a one-hot table:
        q.k = 1 - (k - q)^2 / gap^2, which is 1 on equal values and <= 0 on any others. Without
        q^2 (a numeric query), q.k is shifted per query; fine when some key always matches."""
        kp, qp = self.as_number(at.keys), self.as_number(at.queries)
        if kp.values is None or qp.values is None:
            return None
        if kp.enc != "categorical" and len(kp.values) > 3:  # k^2 needs a one-hot: discretise first
            try:
                kp, _ = self.onehot(kp, at)
            except CompileError:
                return None
        if not all(is_number(v) for v in [*kp.domain, *qp.domain]):
            return None
        ks = np.array([float(v) for v in kp.domain])
        qs = np.array([float(v) for v in qp.values])
        nonempty = self.a.selectors[at.id].nonempty
        with_q2 = qp.enc == "categorical"
        if not with_q2 and (need_threshold or not nonempty):
            return None
        if min(len(ks), len(qs)) <= (3 if with_q2 else 2):
            return None  # the one-hot table is as small
        qread = read(qp) if with_q2 else None
        plan = quadratic_plan(read(kp), ks, self.numeric(qp), qs, qread, self.prec.eps)
        if plan.blurred and self.prec.eps > FLOAT64.eps:
            # A one-hot table instead would grow with max_len (reverse: d_model 13 -> 153
            # from max_len 71); a wider float keeps these three dimensions.
            raise CompileError(
                f"its equality scores could be off by {plan.err:.2g} in {self.prec.name}",
                at,
                precision=True,
                hint=PRECISION,
            )
        return None if plan.blurred else plan  # else a one-hot table: exact, and wider

    def _sides(self, atoms: list[ir.Select]) -> dict[int, Side]:
        """Each select's keys and queries as one-hots."""
        sides = {}
        for at in atoms:
            kp, klin = self.side_onehot(at, keys=True)
            qp, qlin = self.side_onehot(at, keys=False)
            sides[at.id] = Side(kp, klin, qp, qlin)
        return sides

    def side_onehot(self, at: ir.Select, keys: bool) -> tuple[PNode, Lin]:
        """One side of a select as a one-hot. A numeric side is discretised only as finely
        as the select tells its values apart: values that every value of the other side
        compares alike are one class (`indices + mean == indices` needs to know which
        integer a key is, not which of thousands of fractions), so fewer steps and wider
        gaps than a one-hot of every value."""
        p = self.as_number(at.keys if keys else at.queries)
        other = self.as_number(at.queries if keys else at.keys)
        if p.values is None and at.op == "==" and other.values is not None:
            near = points_near(p, other.values)  # too many values: those next to a match
            if near is not None:
                p = self.pnode(
                    Linear,
                    "numerical",
                    near,
                    p.label,
                    p.ir,
                    lin=read(p),
                    err=p.err,
                    role="value (next to a match)",
                    checks=False,
                )
        if p.enc == "categorical" or p.values is None or other.values is None:
            return self.onehot(p, at)
        cls = value_classes(at, p.values, other.values, keys)
        if cls is None:
            return self.onehot(p, at)
        key = (p.id, tuple(cls.tolist()))
        got = self.classes.get(key)
        if got is None:
            rep = representatives(p.values, cls)
            got = self.mlp(
                [p], pointwise(lambda v: rep[vkey(v)]), p.label, p.ir or at, role="classes of"
            )
            got.checks = False
            self.classes[key] = got
        return got, read(got)

    def _pairs(self, sel: ir.Selector) -> Pairs:
        """The selects of a selector grouped by the (keys, queries) pair they compare, with
        their truth tables over that pair's values."""
        atoms = select_atoms(sel)
        sides = self._sides(atoms)
        groups: dict[tuple[int, int], list[ir.Select]] = {}
        for at in atoms:
            groups.setdefault((sides[at.id].keys.id, sides[at.id].queries.id), []).append(at)
        tables = {
            at.id: truth_table(at, sides[at.id].keys.domain, sides[at.id].queries.domain)
            for at in atoms
        }
        return Pairs(atoms, sides, list(groups.values()), tables)

    def try_selector(self, sel: ir.Selector) -> SelPlan | None:
        """One table when the selector reads one (keys, queries) pair; else per-pair tables
        whose scores add up (`and` of different pairs); None when neither works."""
        pairs = self._pairs(sel)
        sides, glist, tables = pairs.sides, pairs.groups, pairs.tables
        if len(glist) == 1:
            side = sides[glist[0][0].id]
            f = combine(sel, {a.id: tables[a.id] for a in glist[0]})
            q, k = bilinear(f.astype(np.float64), side.qlin, side.klin)
            return SelPlan.of(q, k, 1.0, eps=self.prec.eps)
        found = additive_scores(sel, glist, tables)
        if found is None:
            return None
        weights, threshold = found
        qs, ks = [], []
        for g, w in zip(glist, weights, strict=True):
            side = sides[g[0].id]
            q, k = bilinear(w, side.qlin, side.klin)
            qs.append(q)
            ks.append(k)
        return SelPlan.of(stack_all(qs), stack_all(ks), threshold, eps=self.prec.eps)

    def never(self, sel: ir.Selector) -> bool:
        """Whether the selector can never select anything (each pair of values judged apart)."""
        pairs = self._pairs(sel)
        return never_selects(sel, pairs.groups, pairs.tables)

    def joint_selector(self, sel: ir.Selector) -> SelPlan:
        """One table over the joint values of every key-side and every query-side input."""
        atoms = select_atoms(sel)
        sides = self._sides(atoms)
        kps = list({sides[a.id].keys.id: sides[a.id].keys for a in atoms}.values())
        qps = list({sides[a.id].queries.id: sides[a.id].queries for a in atoms}.values())
        kj, qj = self.joint_onehot(kps, sel), self.joint_onehot(qps, sel)
        kpos = {p.id: i for i, p in enumerate(kps)}
        qpos = {p.id: i for i, p in enumerate(qps)}
        cells = {}
        for at in atoms:
            kp, qp = sides[at.id].keys, sides[at.id].queries
            kvals = [kv if len(kps) == 1 else kv[kpos[kp.id]] for kv in kj.domain]
            qvals = [qv if len(qps) == 1 else qv[qpos[qp.id]] for qv in qj.domain]
            cells[at.id] = truth_table(at, kvals, qvals)
        f = combine(sel, cells)
        q, k = bilinear(f.astype(np.float64), read(qj), read(kj))
        return SelPlan.of(q, k, 1.0, eps=self.prec.eps)

    def joint_onehot(self, ps: list[PNode], sel: ir.Selector) -> PNode:
        """The one-hot of the tuple of `ps`' values (a selector side reading several s-ops).
        Functions of the position (or of the token) alone take one value per position
        (token) together: one embedded tuple each, so the MLP joining the rest enumerates
        those tuples, not every combination of their parts' values."""
        if len(ps) == 1:
            return ps[0]
        kinds: dict[str, list[int]] = {}
        for i, p in enumerate(ps):
            foot = self.footprint(p.ir) if p.ir is not None else None
            if foot in (frozenset("I"), frozenset("T")):
                kinds.setdefault("pos" if foot == frozenset("I") else "tok", []).append(i)
        inputs: list[PNode] = []
        slots: list[list[int]] = []  # per input, the parts of the joint value it gives
        for kind, idx in kinds.items():
            if len(idx) > 1:
                parts = [ps[i] for i in idx]
                nodes = [p.ir for p in parts if p.ir is not None]
                inputs.append(self.embedded_tuple(nodes, kind, _tuple_label(parts), sel))
                slots.append(idx)
        grouped = {i for idx in slots for i in idx}
        for i, p in enumerate(ps):
            if i not in grouped:
                inputs.append(p)
                slots.append([i])
        if len(inputs) == 1:
            return inputs[0]  # one embedded tuple, its parts in the order of ps
        flat = joiner(slots, len(ps))
        joint = self.mlp(inputs, pointwise(flat), _tuple_label(ps), sel, role="MLP (joint one-hot)")
        joint.checks = False
        return joint


def _tuple_label(ps: list[PNode]) -> str:
    return "(" + ", ".join(p.label for p in ps) + ")"


def sharp(plan: SelPlan, sel: ir.Selector, prec: Precision) -> SelPlan:
    """The plan, if the model's float type keeps its scores apart (else a CompileError)."""
    if plan.blurred:
        raise CompileError(
            f"its attention scores could be off by {plan.err:.2g} in "
            f"{prec.name}, too close to the margin between selected and other "
            "keys",
            sel,
            precision=True,
            hint="compare fewer values: map the keys and queries to the few "
            "classes the comparison needs before selecting, or split an "
            "`and`/`or` of selects over many values into steps",
        )
    return plan


def causal_compatible(sel: ir.Selector) -> bool:
    """select(indices, indices, <=), possibly `and`-ed with anything: a causal mask suffices."""
    if patterns.is_upto(sel):
        return True
    return (
        isinstance(sel, ir.SelectorCombine)
        and sel.op == "and"
        and any(causal_compatible(s) for s in sel.inputs)
    )


def without_mask(sel: ir.Selector) -> ir.Selector | None:
    """The selector a causal mask leaves to the scores: `select(indices, indices, <=)` is the
    mask itself (None: every key the mask lets through), also where `and`-ed with others."""
    if patterns.is_upto(sel):
        return None
    if isinstance(sel, ir.SelectorCombine) and sel.op == "and":
        a, b = (without_mask(x) for x in sel.inputs)
        if a is None or b is None:
            return b if a is None else a
        if a is sel.inputs[0] and b is sel.inputs[1]:
            return sel
        return ir.SelectorCombine(op="and", inputs=(a, b), span=sel.span, path=sel.path)
    return sel


def quadratic_plan(
    kread: Lin, ks: np.ndarray, qnum: Lin, qs: np.ndarray, qread: Lin | None, eps: float
) -> SelPlan:
    """Scores for keys == queries on numbers: q.k = 1 - (k - q)^2 / gap^2 (`gap` the least
    distance between any two values), 1 on equal values and <= 0 on any others. `kread`: the
    keys' one-hot over the values `ks`; `qnum`: the query as a number, taking the values `qs`;
    `qread`: its one-hot over them, for the q^2 term. Without it q.k is shifted per query
    (the matching key still scores at least 1 above every other and above BOS's `bos_k`)."""
    allv = np.unique(np.concatenate([ks, qs]))
    gap = float(np.diff(allv).min()) if len(allv) > 1 else 1.0
    g2 = gap * gap
    # Centred on the middle value: the squares, and their float32 error, stay small.
    mid = float(allv[0] + allv[-1]) / 2
    ks, qs = ks - mid, qs - mid
    krows = kread.left(np.stack([ks, -ks * ks / g2]))
    qrows = (qnum - Lin.const([mid])).scaled(2.0 / g2).stack(Lin.const([1.0]))
    if qread is not None:
        qrows = qrows.stack(qread.left((1.0 - qs * qs / g2)[None, :]))
        krows = krows.stack(Lin.const([1.0]))
        return SelPlan.of(qrows, krows, 1.0, eps=eps)
    kb = float(qs.min()) - gap
    return SelPlan.of(qrows, krows, 0.0, bos_k=np.array([kb, -kb * kb / g2]), eps=eps)


def value_classes(
    at: ir.Select, values: list[Any], other: list[Any], keys: bool
) -> np.ndarray | None:
    """Per value of one side of `at` (its keys if `keys`), its class: values every value of
    the `other` side compares alike share one. None when each value is its own class."""
    table = (
        truth_table(at, values, other).T if keys else truth_table(at, other, values)
    )  # [value, other's]
    sig, cls = unique_rows(table)
    return None if len(sig) == len(values) else cls


def representatives(values: list[Any], cls: np.ndarray) -> dict[Any, Any]:
    """Each value (by `vkey`) to the first value of its class."""
    reps = {c: values[i] for i, c in reversed(list(enumerate(cls)))}
    return {vkey(v): reps[c] for v, c in zip(values, cls, strict=True)}


def never_selects(
    sel: ir.Selector, groups: list[list[ir.Select]], tables: dict[int, np.ndarray]
) -> bool:
    """Whether `sel` selects nothing whatever values its (keys, queries) pairs take, each
    pair judged apart (`groups`: the selects comparing one pair; `tables`: each select's
    truth table over its pair's values). False, conservatively, past 4,096 combinations."""
    states = []
    for g in groups:
        flat = np.stack([tables[a.id] for a in g], axis=-1).reshape(-1, len(g))
        states.append((g, unique_rows(flat)[0]))
    if math.prod(len(s) for _, s in states) > 4096:
        return False
    truth: dict[int, list[bool]] = {a.id: [] for g in groups for a in g}
    for combo in itertools.product(*(range(len(s)) for _, s in states)):
        for (g, s), c in zip(states, combo, strict=True):
            for ai, a in enumerate(g):
                truth[a.id].append(bool(s[c, ai]))
    target = combine(sel, {k: np.array(v, dtype=bool) for k, v in truth.items()})
    return not target.any()


def joiner(slots: list[list[int]], width: int) -> Callable[..., tuple]:
    """The joint value of `width` parts from the values of inputs that give them: input i
    gives the parts `slots[i]` (a tuple of them, or the value itself for one part)."""

    def flat(*vs: Any) -> tuple:
        out: list[Any] = [None] * width
        for v, idx in zip(vs, slots, strict=True):
            for j, x in zip(idx, v if len(idx) > 1 else (v,), strict=True):
                out[j] = x
        return tuple(out)

    return flat
