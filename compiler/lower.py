"""Stages 2-3: encodings and lowering. Turns the IR into plan nodes (see `plan`).

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
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rasp import ir

from . import patterns
from .budget import Budget
from .errors import CompileError
from .linear import BOS, ONE, Lin, stack_all
from .plan import HeadSpec, MlpSpec, PNode, err_of
from .scores import SelPlan, additive_scores, bilinear, combine, select_atoms, truth_table
from .tabulate import MISSING, Ambiguous, agree, apply, tabulate, tree_outputs
from .values import (
    Analysis,
    aggregate_values,
    count_selector,
    distinct,
    is_number,
    is_numeric_like,
    selects_one_value,
    vkey,
)
from .values import children as values_children
from .values import walk as values_walk

MLP_TUPLES = 4096  # input tuples one MLP may enumerate
MAX_LEAVES = 12  # inputs one fused MLP may read (see `boundary`)
MAX_FUSE_STEPS = 1000  # leaf moves while choosing what one MLP fuses
MAX_Z = float(2**16)  # discretised inputs must stay well inside float32's exact range
ATTN_ERR = 2.0**-22  # relative float32 error of a head's mean (leakage is made far smaller)


def pointwise(fn: Callable[..., Any]) -> Callable[[list[list[list[Any]]]], list[Any]]:
    """An MLP's outputs computed by calling fn at every point (see `Lowerer.mlp`)."""
    def outputs(groups: list[list[list[Any]]]) -> list[Any]:
        return [agree([apply(fn, args) for args in itertools.product(*choices)], choices)
                for choices in itertools.product(*groups)]
    return outputs


class Lowerer:
    def __init__(self, analysis: Analysis, overrides: dict[str, str] | None = None,
                 causal: bool = False, budget: Budget | None = None):
        self.a = analysis
        self.budget = budget or Budget(limit=None)
        self.causal = causal  # the model masks later keys (see `decide_causal`)
        self.vocab = analysis.vocab
        self.n = analysis.max_len
        self.overrides = overrides or {}
        self.memo: dict[Any, PNode | CompileError] = {}
        self.keys = analysis.keys  # structural keys, shared with the analysis
        self.foot: dict[int, frozenset[str]] = {}
        self.cat_of: dict[int, PNode] = {}
        self.ids = itertools.count()  # plan node ids, in creation order (layout order)
        self.tables: dict[tuple[int, ...], dict[int, Any]] = {}  # fused trees' columns
        self.bounds: dict[int, list[ir.IRNode] | None] = {}  # see `boundary`

    def pnode(self, *args: Any, **kw: Any) -> PNode:
        return PNode(*args, id=next(self.ids), **kw)

    def decide_causal(self, root: ir.IRNode) -> bool:
        """Use a causal mask when every head only looks at earlier positions through
        `select(indices, indices, <=)`: the mask then replaces that (rank max_len) table."""
        sels = []
        for n in values_walk([root], self.a.counts):
            width = patterns.match_width(n)
            count = count_selector(n, self.a)
            if width is not None:
                sels.append(width[0])
            elif count is not None:
                sels.append(count)
            elif isinstance(n, ir.Aggregate):
                sels.append(n.selector)
        self.causal = bool(sels) and all(causal_compatible(s) for s in sels)
        return self.causal

    # ---- read-outs ----------------------------------------------------------------------

    @staticmethod
    def read(p: PNode) -> Lin:
        """enc(p) as a linear function of stored values."""
        return p.lin if p.kind == "linear" else Lin.of(p, p.encdim)

    def numeric(self, p: PNode, node: ir.IRNode | None = None) -> Lin:
        """The value of p as one number."""
        if p.enc == "num":
            return self.read(p)
        if not all(is_numeric_like(v) for v in p.values):
            raise CompileError("its values are not all numbers", node or p.ir)
        return self.read(p).left(np.array([[float(v) for v in p.values]]))

    def onehot(self, p: PNode, node: ir.IRNode | None = None) -> tuple[PNode, Lin]:
        """p as a one-hot (a numeric p is discretised by an MLP first)."""
        if p.enc == "cat":
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
        if patterns.match_width(node) is not None or isinstance(node, ir.Aggregate):
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
            raise CompileError("a selector is not a value: compile an s-op", node)
        key = self.keys.of(node)
        if key not in self.memo:
            todo = list(ir.walk([node], lambda n: tuple(
                c for c in values_children(n, self.a.counts)
                if self.keys.of(c) not in self.memo)))
            for i, n in enumerate(todo):
                if isinstance(n, ir.Selector) or self.keys.of(n) in self.memo:
                    continue
                self.budget.tick("lowering", i, len(todo))
                try:
                    p = self._lower(n)
                    if p.ir is None:
                        p.ir = n
                except CompileError as err:
                    p = err
                self.memo[self.keys.of(n)] = p
        got = self.memo[key]
        if isinstance(got, CompileError):
            raise got.with_traceback(None)
        return got

    def _lower(self, node: ir.IRNode) -> PNode:
        width = patterns.match_width(node)
        if width is not None:
            return self.width(node, width[0])
        count = count_selector(node, self.a)
        if count is not None:
            return self.width(node, count)
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
            raise CompileError("this constant expression raises an error", node)
        return self.pnode("linear", "cat", [value], node.label, node, lin=Lin.const([1.0]),
                     role="constant")

    def embedded(self, node: ir.IRNode, kind: str) -> PNode:
        """A function of the token (or of the position) alone: a matrix over the one-hot of
        the token (position), which the embedding holds; only the read-outs its readers need
        get residual dimensions, shared by every such function."""
        base = self.base_embedding(kind)
        domain = base.values
        col = (tabulate(node, len(domain), {}, token=domain) if kind == "tok"
               else tabulate(node, len(domain), {}, index=domain))
        outs = col.values()
        values = distinct(v for v in outs if v is not MISSING)
        if not values:
            raise CompileError("it raises an error on every input", node)
        index = {vkey(v): i for i, v in enumerate(values)}
        m = np.zeros((len(values), len(domain)))
        for r, v in enumerate(outs):
            if v is not MISSING:
                m[index[vkey(v)], r] = 1.0
        return self.pnode("linear", "cat", values, node.label, node, lin=self.read(base).left(m),
                     role="token function" if kind == "tok" else "position function")

    def base_embedding(self, kind: str) -> PNode:
        key = ("embedding", kind)
        got = self.memo.get(key)
        if got is None:
            domain = list(self.vocab) if kind == "tok" else list(range(self.n))
            got = self.pnode(kind, "cat", domain, "tokens" if kind == "tok" else "indices",
                        table=np.eye(len(domain)), base=np.zeros(len(domain)),
                        role="token embedding" if kind == "tok" else "position embedding",
                        checks=False)
            self.memo[key] = got
        return got

    # ---- elementwise ----------------------------------------------------------------------

    def elementwise(self, node: ir.IRNode) -> PNode:
        if isinstance(node, ir.Map):
            child = self.lower(node.child)
            fn = node.fn()
            if child.enc == "cat":
                return self.linear_map(node, child, fn)
            affine = self.affine(node, child)
            if affine is not None:
                a, b = affine
                lin = self.read(child).scaled(a) + Lin.const([b])
                vals = self._map_values(fn, [child.values])
                return self.pnode("linear", "num", vals, node.label, node, lin=lin,
                             err=abs(a) * child.err, role="affine map")
        elif isinstance(node, ir.SequenceMap) and node.op in ("+", "-") and len(node.inputs) == 2:
            merged = self.merged_means(node)
            if merged is not None:
                return merged
            ins = [self.lower(c) for c in node.inputs]
            if all(p.enc == "num" or all(is_number(v) for v in p.values) for p in ins):
                sign = 1.0 if node.op == "+" else -1.0
                lin = self.numeric(ins[0]) + self.numeric(ins[1]).scaled(sign)
                vals = self._map_values(node.fn(), [p.values for p in ins])
                return self.pnode("linear", "num", vals, node.label, node, lin=lin,
                             err=ins[0].err + ins[1].err, role="sum" if sign > 0 else "difference")
        return self.fused(node)

    def merged_means(self, node: ir.SequenceMap) -> PNode | None:
        """aggregate(s, a) +/- aggregate(s, b) over one selector is aggregate(s, a +/- b): one
        head, and value sets of means of a +/- b rather than sums of two sets of means."""
        x, y = node.inputs
        if not (isinstance(x, ir.Aggregate) and isinstance(y, ir.Aggregate)
                and patterns.match_width(x) is None and patterns.match_width(y) is None):
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
        values = self._map_values(fn, [px.values, py.values])
        if values is None:
            return None
        info = self.a.selectors[x.selector.id]
        sp = self.selector(x.selector, equal_weights=not info.max_one)
        sign = 1.0 if node.op == "+" else -1.0
        v = self.numeric(px) + self.numeric(py).scaled(sign) - Lin.const([float(d)])
        vmax = max(abs(float(t) - d) for t in values)
        head = sp.head(v, max(vmax, 1.0), x.selector)
        unequal = 0.0 if info.max_one else head.unequal_err(self.n)
        return self.pnode("head", "num", aggregate_values(values, info, d, self.n), node.label,
                          node, head=head, base=np.array([float(d)]),
                     err=err_of(v) + ATTN_ERR * max(vmax, 1.0) + unequal, role="attention (mean)")

    @staticmethod
    def _map_values(fn, sets) -> list[Any] | None:
        if any(s is None for s in sets) or math.prod(len(s) for s in sets) > 200_000:
            return None
        outs = [apply(fn, args) for args in itertools.product(*sets)]
        try:
            return distinct(v for v in outs if v is not MISSING)
        except Exception:  # noqa: BLE001 - too many values
            return None

    def linear_map(self, node: ir.IRNode, child: PNode, fn) -> PNode:
        outs = [apply(fn, (v,)) for v in child.values]
        values = distinct(v for v in outs if v is not MISSING)
        if not values:
            raise CompileError("it raises an error on every value it can receive", node)
        index = {vkey(v): i for i, v in enumerate(values)}
        m = np.zeros((len(values), len(child.values)))
        for j, v in enumerate(outs):
            if v is not MISSING:
                m[index[vkey(v)], j] = 1.0
        return self.pnode("linear", "cat", values, node.label, node, lin=self.read(child).left(m),
                     err=child.err, role="lookup (linear)")

    def affine(self, node: ir.Map, child: PNode) -> tuple[float, float] | None:
        """(a, b) when the map is x -> a*x + b on every value x can take."""
        c = node.const
        num_c = is_number(c)
        cn = c if num_c else 0.0
        structural = {
            ("+", "right"): (1.0, cn), ("+", "left"): (1.0, cn), ("-", "right"): (1.0, -cn),
            ("-", "left"): (-1.0, cn), ("*", "right"): (cn, 0.0), ("*", "left"): (cn, 0.0),
            ("neg", None): (-1.0, 0.0), ("pos", None): (1.0, 0.0),
        }
        key = (node.op, node.const_side)
        if key in structural and (num_c or node.const_side is None):
            a, b = structural[key]
            return float(a), float(b)
        if key == ("/", "right") and num_c and c != 0:
            return 1.0 / c, 0.0
        vals = child.values
        if vals is None or not vals or len(vals) > 100_000:
            return None
        fn = node.fn()
        outs = [apply(fn, (v,)) for v in vals]
        by_x: dict[float, float] = {}  # equal numbers (5, 5.0) are one point to the model
        for v, o in zip(vals, outs, strict=True):
            if o is MISSING or not is_number(o) or by_x.setdefault(float(v), float(o)) != float(o):
                return None
        pts = sorted(by_x.items())
        if len(pts) == 1:
            return 0.0, pts[0][1]
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        a = (y1 - y0) / (x1 - x0)
        b = y0 - a * x0
        if all(abs(a * x + b - y) <= 1e-12 * max(1.0, abs(y)) for x, y in pts):
            return a, b
        return None

    def fused(self, node: ir.IRNode) -> PNode:
        """One MLP for a tree of elementwise operations, over the tuple of its leaves (or, if
        that mix cannot be discretised exactly, over its direct inputs: one more layer)."""
        direct = list({self.keys.of(c): c for c in node.children()
                       if not isinstance(c, ir.Full)}.values())
        options: dict[tuple[int, ...], list[ir.IRNode]] = {}
        whole = self.boundary(node)  # the whole tree down to heads and embeddings
        if whole is not None and self._tuples(whole) <= MLP_TUPLES:
            options[tuple(self.keys.of(x) for x in whole)] = whole
        for leaves in (self.frontier(node), direct):  # (the direct inputs: one more layer)
            options.setdefault(tuple(sorted(self.keys.of(x) for x in leaves)), leaves)
        made: list[PNode] = []
        for n, leaves in enumerate(options.values(), start=1):

            def outputs(groups, leaves=leaves):
                done = self.tables.setdefault(tuple(self.keys.of(x) for x in leaves), {})
                return tree_outputs(node, leaves, groups, self.keys.of, done)

            try:
                ins = [self.lower(x) for x in leaves]
                p = self.mlp(ins, outputs, node.label, node, role="MLP")
            except CompileError:
                if n == len(options) and not made:
                    raise
                continue
            made.append(p)
            if p.kind != "mlp" or p.read_err(np.eye(p.encdim)) < 1e-4:
                break  # precise enough: keep the fewer layers
        # Else the more precise one: a wide fused MLP's float32 error can make later steps
        # impossible to tell apart.
        return min(made, key=lambda p: p.read_err(np.eye(p.encdim)) if p.kind == "mlp" else 0)

    def frontier(self, node: ir.IRNode) -> list[ir.IRNode]:
        """Leaves of the largest elementwise tree under `node` whose leaf tuples stay few."""

        def expandable(x: ir.IRNode) -> bool:
            if not self._fusable(x):
                return False
            try:
                p = self.lower(x)
            except CompileError:
                return True
            # Reading a head, or a linear function of heads and embeddings, costs nothing; an
            # MLP's output (even read linearly) would cost a layer.
            if p.kind == "linear":
                return any(s.kind == "mlp" for s in p.lin.sources())
            return p.kind == "mlp"

        def collapsible(x: ir.IRNode) -> bool:  # a map read linearly: fuse through it?
            return isinstance(x, ir.Map) and self._fusable(x)

        def uniq(xs: list[ir.IRNode]) -> list[ir.IRNode]:  # in a canonical order
            found = {self.keys.of(c): c for c in xs if not isinstance(c, ir.Full)}
            return [found[k] for k in sorted(found)]

        tuples = self._tuples

        leaves = uniq(list(node.children()))
        for _ in range(MAX_FUSE_STEPS):  # each step moves a leaf deeper; cap for safety
            trial = None
            for x in leaves:  # an MLP absorbed: one layer less
                if expandable(x):
                    t = uniq([y for y in leaves if y is not x] + list(x.children()))
                    if tuples(t) <= MLP_TUPLES:
                        trial = t
                        break
            if trial is None:  # maps of one input replaced by that input: fewer tuples
                groups: dict[int, list[ir.IRNode]] = {}
                for x in leaves:
                    if collapsible(x):
                        groups.setdefault(self.keys.of(x.child), []).append(x)
                now = tuples(leaves)
                for group in groups.values():
                    t = uniq([y for y in leaves if all(y is not g for g in group)]
                             + [group[0].child])
                    if tuples(t) < now:
                        trial = t
                        break
            if trial is None:
                break
            leaves = trial
        return leaves

    def _tuples(self, xs: list[ir.IRNode]) -> int:
        """How many value tuples an MLP reading xs would enumerate."""
        def size(x: ir.IRNode) -> int:
            try:
                vals = self.lower(x).values
            except CompileError:
                vals = None
            return 10**9 if vals is None else max(1, len(vals))
        return math.prod(size(y) for y in xs)

    def boundary(self, node: ir.IRNode) -> list[ir.IRNode] | None:
        """The heads and embedded values under node's elementwise tree (the leaves of the
        largest MLP that could compute it); None when there are more than MAX_LEAVES."""
        key = self.keys.of(node)
        if key in self.bounds:
            return self.bounds[key]
        out: dict[int, ir.IRNode] | None = {}
        for c in node.children():
            if isinstance(c, ir.Full):
                continue
            if not self._fusable(c):
                out[self.keys.of(c)] = c
                continue
            sub = self.boundary(c)
            if sub is None:
                out = None
                break
            out.update((self.keys.of(x), x) for x in sub)
            if len(out) > MAX_LEAVES:
                out = None
                break
        got = None if out is None else [out[k] for k in sorted(out)]
        self.bounds[key] = got
        return got

    def _fusable(self, x: ir.IRNode) -> bool:
        """An elementwise s-op that reads a head: an MLP may compute it from what it reads."""
        return (isinstance(x, ir.Map | ir.SequenceMap) and patterns.match_width(x) is None
                and count_selector(x, self.a) is None and "A" in self.footprint(x))

    def mlp(self, ins: list[PNode], outputs: Callable[[list[list[list[Any]]]], list[Any]],
            label: str, node: ir.IRNode | None, role: str = "MLP") -> PNode:
        """A discretising MLP over the tuples of its inputs' values. `outputs(groups)` gives
        its output at every point of the product of the inputs' groups (a group: values one
        point stands for, equal as numbers), MISSING where the program raises."""
        for p in ins:
            if p.values is None:
                raise CompileError(
                    f"`{p.label}` can take too many values here to discretise (a mean over "
                    f"up to {self.n} positions); a smaller --max-len may compile", node)
        sizes = [len(p.values) for p in ins]
        if math.prod(sizes) > MLP_TUPLES:
            desc = " x ".join(f"{s} ({p.label})" for s, p in zip(sizes, ins, strict=True))
            raise CompileError(f"its inputs take {desc} value combinations, more than an "
                               f"MLP may enumerate ({MLP_TUPLES})", node)
        # Each input as one number u with gaps >= 1; z mixes them in a mixed radix. Values
        # equal as numbers (1, 1.0, True) are one point: the model cannot tell them apart.
        us, lins, errs, groups = [], [], [], []
        for p in ins:
            if p.enc == "cat":
                u = np.arange(len(p.values), dtype=np.float64)
                lins.append(self.read(p).left(u[None, :]))
                errs.append(err_of(lins[-1]))
                groups.append([[v] for v in p.values])
            else:
                by_float: dict[float, list[Any]] = {}
                for v in p.values:
                    by_float.setdefault(float(v), []).append(v)
                x = np.array(sorted(by_float))
                gap = float(np.diff(x).min()) if len(x) > 1 else 1.0
                u = (x - x.min()) / gap
                lins.append((self.read(p) - Lin.const([x.min()])).scaled(1.0 / gap))
                errs.append(err_of(lins[-1]))
                groups.append([by_float[f] for f in x])
            us.append(u)
        sizes = [len(u) for u in us]
        tuples = list(itertools.product(*(range(s) for s in sizes)))
        try:
            outs = outputs(groups)
        except Ambiguous as err:
            raise CompileError(
                f"its result depends on whether an input is {err.args[0]!r} (equal numbers "
                "of different types), which the model cannot tell apart", node) from None
        defined = [v for v in outs if v is not MISSING]
        if not defined:
            raise CompileError("it raises an error on every value it can receive", node)
        values = distinct(defined)
        index = {vkey(v): i for i, v in enumerate(values)}
        codes = np.array([-1 if v is MISSING else index[vkey(v)] for v in outs])
        if len(values) == 1:
            return self.pnode("linear", "cat", values, label, node, lin=Lin.const([1.0]),
                         role="constant")
        idx = np.array(tuples, dtype=np.int64).reshape(len(tuples), len(ins))
        best = None
        orders = (itertools.permutations(range(len(ins))) if len(ins) <= 4
                  else [tuple(range(len(ins))), tuple(reversed(range(len(ins))))])
        for perm in orders:  # which input varies fastest: the one with the fewest steps
            plan = _radix(perm, us, errs, idx, codes)
            if best is None or plan[0] < best[0]:
                best = plan
        cost, perm, mult, zs, filled, err_z = best
        if cost[0]:
            raise CompileError("its inputs are too close together to tell apart after "
                               "float32 rounding", node)
        if zs[-1] > MAX_Z:
            raise CompileError("its inputs take too many values to tell apart in float32", node)
        z = Lin.const([0.0])
        for i, m in zip(perm, mult, strict=True):
            z = z + lins[i].scaled(m)
        table = np.eye(len(values))[filled]
        spec = MlpSpec(z, zs, table, err_z, list(ins))
        changes = spec.changes()
        halves = (zs[changes] - zs[changes - 1]) / 2
        if len(changes) and err_z > 0.2 * float(halves.min()):
            raise CompileError("its inputs are too close together to tell apart after "
                               "float32 rounding", node)
        # Each ramp's ReLUs grow on its inexact side (the shorter one, see assemble) to `act`.
        lo, hi = float(zs[0]), float(zs[-1])
        mids = zs[changes] - halves
        spec.act = np.minimum(hi - mids, mids - lo) / halves + 1.0
        return self.pnode("mlp", "cat", values, label, node, mlp=spec, base=np.zeros(len(values)),
                     role=role)

    # ---- attention ----------------------------------------------------------------------

    def aggregate(self, node: ir.Aggregate) -> PNode:
        x = self.lower(node.sop)
        info = self.a.selectors[node.selector.id]
        d = node.default
        numbers = x.enc == "num" or all(is_number(v) for v in x.values)
        select_one = info.max_one or not numbers
        # Keys that all hold one value average to it whatever their weights.
        one_value = not info.max_one and selects_one_value(node, self.a)
        sp = self.selector(node.selector, equal_weights=not (select_one or one_value))
        want = self.overrides.get(node.name or "")
        if want == "numerical" and not numbers:
            raise CompileError("a numerical encoding needs numbers", node)
        if want == "categorical" and not select_one:
            raise CompileError("a categorical mean is exact only when at most one key is "
                               "selected, which cannot be shown here", node)
        numeric_default = d is None or is_numeric_like(d)
        if select_one and (x.enc == "cat" and want != "numerical" or not numeric_default):
            x, xin = self.onehot(x, node.sop)
            values = distinct([*x.values, d])
            index = {vkey(v): i for i, v in enumerate(values)}
            emb = np.zeros((len(values), len(x.values)))
            for j, v in enumerate(x.values):
                emb[index[vkey(v)], j] = 1.0
            base = np.zeros(len(values))
            base[index[vkey(d)]] = 1.0
            v = xin.left(emb) - Lin.const(base)
            head = sp.head(v, 1.0, node.selector)
            return self.pnode("head", "cat", values, node.label, node, head=head, base=base,
                         err=err_of(xin) + ATTN_ERR, role="attention (select one)")
        if not numeric_default:
            raise CompileError(f"a mean of numbers with the default {d!r} (not a number) "
                               "cannot be encoded in one numeric dimension", node)
        dnum = 0.0 if d is None else float(d)
        v = self.numeric(x, node.sop) - Lin.const([dnum])
        if x.values is not None:
            xs = np.array([float(t) for t in x.values])
            vmax = float(np.abs(xs - dnum).max()) if len(xs) else 1.0
            values = aggregate_values(x.values, info, 0 if d is None else d, self.n, one_value)
        else:
            vmax, values = 1e6, None
        head = sp.head(v, max(vmax, 1.0), node.selector)
        unequal = 0.0 if select_one or one_value else head.unequal_err(self.n)
        return self.pnode("head", "num", values, node.label, node, head=head, base=np.array([dnum]),
                     err=err_of(v) + ATTN_ERR * max(vmax, 1.0) + unequal,
                     role="attention (select one)" if select_one else
                     "attention (mean of one value)" if one_value else "attention (mean)")

    def width(self, node: ir.IRNode, sel: ir.Selector, widths: list[int] | None = None
              ) -> PNode:
        """selector_width: BOS scores like a selected key, so it gets 1/(w+1) of the weight.
        An `or` that no single table or sum of tables expresses is split instead:
        width(a or b) = width(a) + width(b) - width(a and b) (the last is dropped when a and b
        never meet), each part a head and an MLP in the same layer, summed linearly."""
        widths = self.a.values[node.id] if widths is None else widths
        stripped = self.strip_causal(sel)
        plan = None
        if stripped is None or isinstance(stripped, ir.Select) and stripped.op == "==":
            plan = self.selector(sel, need_threshold=True)
        else:
            plan = self.try_selector(stripped)
            if plan is not None and plan.blurred:
                plan = None  # too blurred in float32: split it, or one joint table
        if plan is None and isinstance(stripped, ir.SelectorCombine) and stripped.op == "or":
            a, b = stripped.inputs
            both = ir.SelectorCombine(op="and", inputs=(a, b), span=sel.span, path=sel.path)
            parts = [(1.0, a), (1.0, b)]
            if not self.never(both):
                parts.append((-1.0, both))
            total = Lin.const([0.0])
            for sign, part in parts:
                w = self.width_of(part, node)
                total = total + self.numeric(w).scaled(sign)
            return self.pnode("linear", "num", list(widths), node.label, node, lin=total,
                         role="sum of widths")
        if plan is None:
            plan = self.joint_selector(stripped, *self._sides(select_atoms(stripped)))
        plan = sharp(plan, sel)
        shares = [1.0 / (w + 1) for w in widths]
        v = Lin(1, {BOS: np.ones((1, 1)), ONE: -np.ones((1, 1))})
        head = HeadSpec(plan.q, plan.k, plan.threshold, "equal", v, 1.0, sel,
                        score_err=plan.err)
        share = self.pnode("head", "num", sorted(shares), f"1/(1+{node.label})", node, head=head,
                      base=np.array([1.0]), err=ATTN_ERR, role="attention (width, BOS share)",
                      checks=False)
        lookup = {s: w for s, w in zip(shares, widths, strict=True)}
        return self.mlp([share], pointwise(lambda s: lookup[s]), node.label, node,
                        role="MLP (width)")

    def width_of(self, sel: ir.Selector, whole: ir.IRNode) -> PNode:
        """The width of a part of a split selector (memoised by structure)."""
        key = ("width-part", self.keys.of(sel))
        got = self.memo.get(key)
        if got is None:
            part = ir.Map(op="round", child=None, span=sel.span, path=sel.path,
                          name=f"selector_width({sel.label})")
            got = self.width(part, sel, list(range(self.n + 1)))
            got.checks = False
            self.memo[key] = got
        return got

    # ---- selectors ----------------------------------------------------------------------

    def selector(self, sel: ir.Selector, need_threshold: bool = False,
                 equal_weights: bool = True) -> SelPlan:
        """q, k read-outs with q.k == T on selected pairs and <= T-1 elsewhere.
        `equal_weights`: several selected keys must get exactly equal weights (a mean, a
        width), so no scores computed from large cancelling terms (the quadratic form)."""
        sel = self.strip_causal(sel)
        if sel is None:  # every key the causal mask lets through
            return SelPlan(Lin.const([1.0]), Lin.const([1.0]), 1.0)
        if isinstance(sel, ir.Select) and sel.op == "==" and not equal_weights:
            quad = self.quadratic(sel, need_threshold)
            if quad is not None:
                return quad
        plan = self.try_selector(sel)
        if plan is None:
            plan = self.joint_selector(sel, *self._sides(select_atoms(sel)))
        return sharp(plan, sel)

    def strip_causal(self, sel: ir.Selector | None) -> ir.Selector | None:
        """In a causal model, `select(indices, indices, <=)` is the mask itself: drop it."""
        if not self.causal or sel is None:
            return sel
        if patterns.is_upto(sel):
            return None
        if isinstance(sel, ir.SelectorCombine) and sel.op == "and":
            a, b = (self.strip_causal(x) for x in sel.inputs)
            if a is None or b is None:
                return b if a is None else a
            if a is sel.inputs[0] and b is sel.inputs[1]:
                return sel
            return ir.SelectorCombine(op="and", inputs=(a, b), span=sel.span, path=sel.path)
        return sel

    def quadratic(self, at: ir.Select, need_threshold: bool) -> SelPlan | None:
        """keys == queries on numbers with 3 (or 2) dimensions instead of a one-hot table:
        q.k = 1 - (k - q)^2 / gap^2, which is 1 on equal values and <= 0 on any others. Without
        q^2 (a numeric query), q.k is shifted per query; fine when some key always matches."""
        kp, qp = self.lower(at.keys), self.lower(at.queries)
        if kp.values is None or qp.values is None:
            return None
        if kp.enc != "cat" and len(kp.values) > 3:  # k^2 needs a one-hot: discretise first
            try:
                kp, _ = self.onehot(kp, at)
            except CompileError:
                return None
        if not all(is_number(v) for v in [*kp.values, *qp.values]):
            return None
        ks = np.array([float(v) for v in kp.values])
        qs = np.array([float(v) for v in qp.values])
        nonempty = self.a.selectors[at.id].nonempty
        with_q2 = qp.enc == "cat"
        if not with_q2 and (need_threshold or not nonempty):
            return None
        if min(len(ks), len(qs)) <= (3 if with_q2 else 2):
            return None  # the one-hot table is as small
        allv = np.unique(np.concatenate([ks, qs]))
        gap = float(np.diff(allv).min()) if len(allv) > 1 else 1.0
        g2 = gap * gap
        # Centred on the middle value: the squares, and their float32 error, stay small.
        mid = float(allv[0] + allv[-1]) / 2
        ks, qs = ks - mid, qs - mid
        krows = self.read(kp).left(np.stack([ks, -ks * ks / g2]))
        qrows = (self.numeric(qp) - Lin.const([mid])).scaled(2.0 / g2).stack(Lin.const([1.0]))
        if with_q2:
            qrows = qrows.stack(self.read(qp).left((1.0 - qs * qs / g2)[None, :]))
            krows = krows.stack(Lin.const([1.0]))
            plan = SelPlan.of(qrows, krows, 1.0)
        else:
            kb = float(qs.min()) - gap
            plan = SelPlan.of(qrows, krows, 0.0, bos_k=np.array([kb, -kb * kb / g2]))
        return None if plan.blurred else plan  # else a one-hot table: exact, and wider

    def _sides(self, atoms: list[ir.Select]):
        sides = {}
        for at in atoms:
            kp, klin = self.onehot(self.lower(at.keys), at)
            qp, qlin = self.onehot(self.lower(at.queries), at)
            sides[at.id] = (kp, klin, qp, qlin)
        return atoms, sides

    def try_selector(self, sel: ir.Selector) -> SelPlan | None:
        """One table when the selector reads one (keys, queries) pair; else per-pair tables
        whose scores add up (`and` of different pairs); None when neither works."""
        atoms, sides = self._sides(select_atoms(sel))
        groups: dict[tuple[int, int], list[ir.Select]] = {}
        for at in atoms:
            kp, _, qp, _ = sides[at.id]
            groups.setdefault((kp.id, qp.id), []).append(at)
        tables = {}
        for at in atoms:
            kp, _, qp, _ = sides[at.id]
            tables[at.id] = truth_table(at, kp.values, qp.values)
        glist = list(groups.values())
        if len(glist) == 1:
            _, klin, _, qlin = sides[glist[0][0].id]
            f = combine(sel, {a.id: tables[a.id] for a in glist[0]})
            q, k = bilinear(f.astype(np.float64), qlin, klin)
            return SelPlan.of(q, k, 1.0)
        found = additive_scores(sel, glist, tables)
        if found is None:
            return None
        weights, threshold = found
        qs, ks = [], []
        for g, w in zip(glist, weights, strict=True):
            _, klin, _, qlin = sides[g[0].id]
            q, k = bilinear(w, qlin, klin)
            qs.append(q)
            ks.append(k)
        return SelPlan.of(stack_all(qs), stack_all(ks), threshold)

    def never(self, sel: ir.Selector) -> bool:
        """Whether the selector can never select anything (each pair of values judged apart)."""
        atoms, sides = self._sides(select_atoms(sel))
        groups: dict[tuple[int, int], list[ir.Select]] = {}
        for at in atoms:
            kp, _, qp, _ = sides[at.id]
            groups.setdefault((kp.id, qp.id), []).append(at)
        tables = {at.id: truth_table(at, sides[at.id][0].values, sides[at.id][2].values)
                  for at in atoms}
        states = []
        for g in groups.values():
            flat = np.stack([tables[a.id] for a in g], axis=-1).reshape(-1, len(g))
            states.append((g, np.unique(flat, axis=0)))
        if math.prod(len(s) for _, s in states) > 4096:
            return False
        truth: dict[int, list[bool]] = {a.id: [] for a in atoms}
        for combo in itertools.product(*(range(len(s)) for _, s in states)):
            for (g, s), c in zip(states, combo, strict=True):
                for ai, a in enumerate(g):
                    truth[a.id].append(bool(s[c, ai]))
        target = combine(sel, {k: np.array(v, dtype=bool) for k, v in truth.items()})
        return not target.any()

    def joint_selector(self, sel, atoms, sides) -> SelPlan:
        """One table over the joint values of every key-side and every query-side input."""
        kps = list({sides[a.id][0].id: sides[a.id][0] for a in atoms}.values())
        qps = list({sides[a.id][2].id: sides[a.id][2] for a in atoms}.values())

        def joint(ps: list[PNode]) -> PNode:
            if len(ps) == 1:
                return ps[0]
            label = "(" + ", ".join(p.label for p in ps) + ")"
            p = self.mlp(ps, pointwise(lambda *vs: tuple(vs)), label, sel,
                         role="MLP (joint one-hot)")
            p.checks = False
            return p

        kj, qj = joint(kps), joint(qps)
        kpos = {p.id: i for i, p in enumerate(kps)}
        qpos = {p.id: i for i, p in enumerate(qps)}
        cells = {}
        for at in atoms:
            kp, _, qp, _ = sides[at.id]
            kvals = [kv if len(kps) == 1 else kv[kpos[kp.id]] for kv in kj.values]
            qvals = [qv if len(qps) == 1 else qv[qpos[qp.id]] for qv in qj.values]
            cells[at.id] = truth_table(at, kvals, qvals)
        f = combine(sel, cells)
        q, k = bilinear(f.astype(np.float64), self.read(qj), self.read(kj))
        return SelPlan.of(q, k, 1.0)


def sharp(plan: SelPlan, sel: ir.Selector) -> SelPlan:
    """The plan, if float32 keeps its scores apart (else a CompileError)."""
    if plan.blurred:
        raise CompileError(f"its attention scores could be off by {plan.err:.2g} in float32, "
                           "too close to the margin between selected and other keys", sel)
    return plan


def causal_compatible(sel: ir.Selector) -> bool:
    """select(indices, indices, <=), possibly `and`-ed with anything: a causal mask suffices."""
    if patterns.is_upto(sel):
        return True
    return (isinstance(sel, ir.SelectorCombine) and sel.op == "and"
            and any(causal_compatible(s) for s in sel.inputs))


def _radix(perm, us, errs, idx, codes):
    """Mix the inputs into one number z (perm[0] varies fastest), each input step >= 1 apart.
    Returns (cost, perm, multipliers, sorted z, output codes along z, error of z)."""
    mult, top, err_z = [], 0.0, 0.0
    for n, i in enumerate(perm):
        # Blocks of the faster inputs sit `pad` apart, wide enough for the error so far.
        e = errs[i]
        if n == 0:
            m = 1.0
        elif 10 * e >= 1:
            m = float("inf")
        else:
            # (a quarter of the span below, so that steps between blocks are gentle ramps)
            pad = max(1.0, 0.25 * top, 10 * (err_z + (top + 1) * e) / (1 - 10 * e))
            m = top + pad
        mult.append(m)
        err_z += m * e
        top += m * float(us[i].max())
    radix = top + 1
    if not np.isfinite(radix):
        return (True, len(codes), radix), perm, mult, np.zeros(len(idx)), codes, err_z
    zs = np.zeros(len(idx))
    for i, m in zip(perm, mult, strict=True):
        zs += m * us[i][idx[:, i]]
    order = np.argsort(zs, kind="stable")
    zs, c = zs[order], codes[order]
    known = np.flatnonzero(c >= 0)
    # Undefined points (the program raises there) take the value before them (or after).
    fill = known[np.maximum(np.searchsorted(known, np.arange(len(c)), side="right") - 1, 0)]
    c = c[fill]
    steps = np.flatnonzero(np.diff(c) != 0) + 1
    tight = float(((zs[steps] - zs[steps - 1]) / 2).min()) if len(steps) else 1.0
    too_close = err_z > 0.2 * tight  # some step would blur after float32 rounding
    return (too_close, len(steps), radix), perm, mult, zs, c, err_z


