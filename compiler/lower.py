"""Stages 2-3: encodings and lowering. Walks the IR children first (each s-op once, failures
memoised) and decides how each s-op is computed; the blocks are built by `heads` (the
attention of `aggregate` and `selector_width`), `discretise` (MLPs), `selectors` + `scores`
(attention scores), `fusion` (what one MLP computes).

- Functions of the tokens alone, or of the positions alone, are tables in the embedding.
- A map of a one-hot value is linear (a matrix over the one-hot), and so is an affine map of a
  number (`x + 1`, `a - b`): such values are never stored, their readers read through them.
- Other elementwise expressions become one discretising MLP over the tuple of their inputs;
  chains and trees of them are fused into one MLP while the input tuples stay few.
- `aggregate` becomes an attention head: a mean of numbers, or of one-hots when at most one
  key can be selected (or when the values are not numbers: averaging those is an error in the
  program, so an input that would average them has no output to match).
- `selector_width` and `length` become a head that also attends to BOS plus a small MLP.
Encodings are chosen by what produces a value (a head averaging numbers gives a number, the
rest give one-hots) and read by what uses it (through linear read-outs).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from compiler.budget import Budget
from compiler.compare import AsNumber, by_difference, by_nearest, by_squares
from compiler.discretise import Outputs, discretise, pointwise
from compiler.errors import RAISES, CompileError
from compiler.fusion import Fusion
from compiler.heads import Heads
from compiler.linear import Lin
from compiler.normalise import PrefixCount, Width
from compiler.plan import Embedded, Linear, PNode, read
from compiler.precision import FLOAT32, Precision
from compiler.selectors import causal_compatible
from compiler.tabulate import MISSING, affine_of, apply, tabulate
from compiler.values import (
    Analysis,
    apply_all,
    count_selector,
    distinct,
    is_number,
    is_numeric_like,
    vkey,
)
from compiler.values import walk as values_walk
from rasp import ir


class Lowerer(Fusion, Heads, AsNumber):
    """Walks the IR children first and decides how each s-op is computed."""

    def __init__(
        self,
        analysis: Analysis,
        overrides: dict[str, str] | None = None,
        causal: bool = False,
        budget: Budget | None = None,
        precision: Precision = FLOAT32,
    ):
        self.a = analysis
        self.prec = precision  # the model's float type: every error bound is in its units
        self.attn_err = 4 * precision.eps  # relative error of a head's mean (leakage: far less)
        self.budget = budget or Budget(limit=None)
        self.causal = causal  # the model masks later keys (see `decide_causal`)
        self.vocab = analysis.vocab
        self.n = analysis.max_len
        self.overrides = overrides or {}
        self.memo: dict[Any, PNode | CompileError] = {}  # s-ops by structure, failures too
        self.shared: dict[tuple[str, Any], PNode] = {}  # base embeddings, split widths' parts
        self.keys = analysis.keys  # structural keys, shared with the analysis
        self.foot: dict[int, frozenset[str]] = {}
        self.cat_of: dict[int, PNode] = {}
        self.classes: dict[tuple[int, tuple[int, ...]], PNode] = {}  # see `side_onehot`
        self.ids = itertools.count()  # plan node ids, in creation order (layout order)
        self.tables: dict[tuple[int, ...], dict[int, Any]] = {}  # fused trees' columns
        self.bounds: dict[tuple[int, bool], list[ir.IRNode] | None] = {}  # see `boundary`
        self.sizes: dict[int, int] = {}  # see `_tuples`

    def pnode(self, cls: type[PNode], *args: Any, **kw: Any) -> PNode:
        return cls(*args, id=next(self.ids), eps=self.prec.eps, **kw)

    def decide_causal(self, root: ir.IRNode) -> bool:
        """Use a causal mask when every head only looks at earlier positions through
        `select(indices, indices, <=)`: the mask then replaces that (rank max_len) table."""
        sels = []
        for n in values_walk([root]):
            count = count_selector(n, self.a)
            if isinstance(n, Width):
                sels.append(n.selector)
            elif count is not None:
                sels.append(count)
            elif isinstance(n, ir.Aggregate):
                sels.append(n.selector)
        self.causal = bool(sels) and all(causal_compatible(s) for s in sels)
        return self.causal

    # ---- read-outs ----------------------------------------------------------------------

    read = staticmethod(read)

    def numeric(self, p: PNode, node: ir.IRNode | None = None) -> Lin:
        """The value of p as one number."""
        if p.enc == "numerical":
            return self.read(p)
        if not all(is_numeric_like(v) for v in p.domain):
            raise CompileError(
                "its values are not all numbers",
                node or p.ir,
                hint="map them to numbers first: a dictionary or `indicator(...)`",
            )
        return self.read(p).left(np.array([[float(v) for v in p.domain]]))

    def onehot(self, p: PNode, node: ir.IRNode | None = None) -> tuple[PNode, Lin]:
        """p as a one-hot (a numeric p is discretised by an MLP first)."""
        if p.enc == "categorical":
            return p, self.read(p)
        q = self.cat_of.get(p.id)
        if q is None:
            q = self.mlp([p], pointwise(lambda v: v), p.label, p.ir or node, role="one-hot of")
            self.cat_of[p.id] = q
        return q, self.read(q)

    # ---- nodes --------------------------------------------------------------------------

    def footprint(self, node: ir.IRNode) -> frozenset[str]:
        got = self.foot.get(node.id)
        if got is not None:
            return got
        if isinstance(node, Width | ir.Aggregate):
            out = frozenset("A")
        elif isinstance(node, ir.Tokens):
            out = frozenset("T")
        elif isinstance(node, ir.Indices):
            out = frozenset("I")
        else:
            out = frozenset().union(*(self.footprint(c) for c in node.children()))
        self.foot[node.id] = out
        return out

    def lower(self, node: ir.IRNode) -> PNode:
        """The plan node of an s-op (memoised by structure, failures too). Its inputs are
        lowered first, children before parents, so recursion stays shallow however deep the
        program, and no subexpression is lowered twice."""
        if isinstance(node, ir.Selector):
            raise CompileError(
                "a selector is not a value: compile an s-op",
                node,
                hint="compile `selector_width(sel)` or `aggregate(sel, x)`",
            )
        key = self.keys.of(node)
        if key not in self.memo:
            todo = list(
                ir.walk(
                    [node],
                    lambda n: tuple(c for c in self._reads(n) if self.keys.of(c) not in self.memo),
                )
            )
            for i, n in enumerate(todo):
                if isinstance(n, ir.Selector) or self.keys.of(n) in self.memo:
                    continue
                self.budget.tick("lowering", i, len(todo))
                try:
                    p = self._lower(n)
                    if p.ir is None:
                        p.ir = n
                    self.memo[self.keys.of(n)] = p
                except CompileError as err:
                    self.memo[self.keys.of(n)] = err
        got = self.memo[key]
        if isinstance(got, CompileError):
            raise got.with_traceback(None)
        return got

    def _reads(self, node: ir.IRNode) -> tuple[ir.IRNode, ...]:
        """The nodes whose plan nodes node's own lowering reads."""
        if isinstance(node, PrefixCount):
            count = count_selector(node, self.a)
            return (count,) if count is not None else (node.fallback,)
        return node.children()

    def _lower(self, node: ir.IRNode) -> PNode:
        if isinstance(node, Width):
            return self.width(node, node.selector)
        if isinstance(node, PrefixCount):
            count = count_selector(node, self.a)
            return self.width(node, count) if count else self.lower(node.fallback)
        if isinstance(node, ir.Aggregate):
            return self.aggregate(node)
        foot = self.footprint(node)
        if not foot:
            return self.constant(node)
        if foot == {"T"}:
            return self.embedded(node, "tok")
        if foot == {"I"}:
            return self.embedded(node, "pos")
        return self.elementwise(node)

    def constant(self, node: ir.IRNode) -> PNode:
        value = tabulate(node, 1, {}).table[0]
        if value is MISSING:
            raise CompileError("this constant expression raises an error", node, hint=RAISES)
        return self.pnode(
            Linear, "categorical", [value], node.label, node, lin=Lin.const([1.0]), role="constant"
        )

    def embedded(self, node: ir.IRNode, kind: str) -> PNode:
        """A function of the token (or of the position) alone: a matrix over the one-hot of
        the token (position), which the embedding holds; only the read-outs its readers need
        get residual dimensions, shared by every such function."""
        return self.embedded_tuple([node], kind, node.label, node)

    def embedded_tuple(self, nodes: list[ir.IRNode], kind: str, label: str, at: ir.IRNode) -> PNode:
        """Several functions of the token (position) as one: the one-hot of their values'
        tuple (of the value itself for one node), which takes at most one value per token
        (position), however many each part takes."""
        base = self.base_embedding(kind)
        domain = base.domain
        cols = [
            (
                tabulate(node, len(domain), {}, token=domain)
                if kind == "tok"
                else tabulate(node, len(domain), {}, index=domain)
            ).values()
            for node in nodes
        ]
        outs = cols[0]
        if len(cols) > 1:
            outs = [MISSING if MISSING in row else tuple(row) for row in zip(*cols, strict=True)]
        values = distinct(v for v in outs if v is not MISSING)
        if not values:
            raise CompileError("it raises an error on every input", at, hint=RAISES)
        return self.pnode(
            Linear,
            "categorical",
            values,
            label,
            at,
            lin=self.read(base).left(_onehot_map(values, outs)),
            role="token function" if kind == "tok" else "position function",
        )

    def base_embedding(self, kind: str) -> PNode:
        key = ("embedding", kind)
        got = self.shared.get(key)
        if got is None:
            domain = list(self.vocab) if kind == "tok" else list(range(self.n))
            got = self.pnode(
                Embedded,
                "categorical",
                domain,
                "tokens" if kind == "tok" else "indices",
                table=np.eye(len(domain)),
                base=np.zeros(len(domain)),
                role="token embedding" if kind == "tok" else "position embedding",
                checks=False,
                kind=kind,
            )
            self.shared[key] = got
        return got

    # ---- elementwise ----------------------------------------------------------------------

    def elementwise(self, node: ir.IRNode) -> PNode:
        if isinstance(node, ir.Map):
            child = self.lower(node.child)
            fn = node.fn()
            if child.enc == "categorical":
                return self.linear_map(node, child, fn)
            affine = affine_of(node, child.values)
            vals = apply_all(fn, [child.values])
            flag = self.passed_flag(fn, [child], vals)
            if affine is not None and flag is not False:
                return self.affine(node, child, affine, vals, "affine map", flag=flag)
        elif isinstance(node, ir.SequenceMap) and node.op in ("+", "-") and len(node.inputs) == 2:
            merged = self.merged_means(node)
            if merged is not None:
                return merged
            ins = [self.lower(c) for c in node.inputs]
            vals = apply_all(node.fn(), [p.values for p in ins]) or self.a.values.get(node.id)
            flag = self.passed_flag(node.fn(), ins, vals)
            if flag is not False and all(
                p.enc == "numerical" or all(is_number(v) for v in p.domain) for p in ins
            ):
                role = "sum" if node.op == "+" else "difference"
                return self.summed(node, ins, vals, role, flag=flag)
        for staged in (by_difference, by_nearest):
            got = staged(node, self.lower, self.mlp, self.pnode)
            if got is not None:
                return got
        try:
            return self.fused(node)
        except CompileError:  # a product whose inputs share no few-valued source: two stages
            got = by_squares(node, self.lower, self.mlp, self.pnode)
            if got is None:
                raise
            return got

    def affine(
        self,
        node: ir.IRNode,
        child: PNode,
        ab: tuple[float, float],
        vals: Any,
        role: str,
        **kw: Any,
    ) -> PNode:
        """`a * child + b` of a number: a linear read-out, never stored."""
        a, b = ab
        lin = self.read(child).scaled(a) + Lin.const([b])
        return self.pnode(
            Linear,
            "numerical",
            vals,
            node.label,
            node,
            lin=lin,
            err=abs(a) * child.err,
            role=role,
            **kw,
        )

    def summed(
        self, node: ir.SequenceMap, ins: list[PNode], vals: Any, role: str, **kw: Any
    ) -> PNode:
        """`x + y` or `x - y` of two numbers: a linear read-out, never stored."""
        sign = 1.0 if node.op == "+" else -1.0
        lin = self.numeric(ins[0]) + self.numeric(ins[1]).scaled(sign)
        err = ins[0].err + ins[1].err
        return self.pnode(
            Linear, "numerical", vals, node.label, node, lin=lin, err=err, role=role, **kw
        )

    def merged_means(self, node: ir.SequenceMap) -> PNode | None:
        """aggregate(s, a) +/- aggregate(s, b) over one selector is aggregate(s, a +/- b): one
        head, and value sets of means of a +/- b rather than sums of two sets of means."""
        x, y = node.inputs
        if not (isinstance(x, ir.Aggregate) and isinstance(y, ir.Aggregate)):
            return None
        if self.keys.of(x.selector) != self.keys.of(y.selector):
            return None
        if not (is_number(x.default) and is_number(y.default)):
            return None
        px, py = self.lower(x.sop), self.lower(y.sop)
        for p in (px, py):
            if p.values is None or not all(is_number(v) for v in p.values):
                return None
        fn = node.fn()
        d = fn(x.default, y.default)
        values = apply_all(fn, [px.values, py.values])
        if values is None:
            return None
        info = self.a.selectors[x.selector.id]
        sp = self.selector(x.selector, equal_weights=not info.max_one)
        sign = 1.0 if node.op == "+" else -1.0
        v = self.numeric(px) + self.numeric(py).scaled(sign) - Lin.const([float(d)])
        return self.mean_head(node, x.selector, sp, v, values, d, select_one=info.max_one)

    def linear_map(self, node: ir.IRNode, child: PNode, fn) -> PNode:
        outs = [apply(fn, (v,)) for v in child.domain]
        values = distinct(v for v in outs if v is not MISSING)
        if not values:
            raise CompileError(
                "it raises an error on every value it can receive", node, hint=RAISES
            )
        return self.pnode(
            Linear,
            "categorical",
            values,
            node.label,
            node,
            lin=self.read(child).left(_onehot_map(values, outs)),
            err=child.err,
            role="lookup (linear)",
        )

    def mlp(
        self,
        ins: list[PNode],
        outputs: Outputs,
        label: str,
        node: ir.IRNode | None,
        role: str = "MLP",
    ) -> PNode:
        """A discretising MLP (see `discretise`)."""
        return discretise(ins, outputs, label, node, role, self.n, self.pnode, self.prec)


def _onehot_map(values: list[Any], outs: list[Any]) -> np.ndarray:
    """[value, input] -> 1 where input i maps to value (a column of 0s where it raises):
    a function of a one-hot is this matrix times it."""
    index = {vkey(v): i for i, v in enumerate(values)}
    m = np.zeros((len(values), len(outs)))
    for j, v in enumerate(outs):
        if v is not MISSING:
            m[index[vkey(v)], j] = 1.0
    return m
