"""Stage 3's attention blocks: `aggregate` as a head (a mean of numbers, or of one-hots when at
most one key is selected) and `selector_width` as a head that also attends to BOS plus a
small MLP reading BOS's share 1/(w+1). Mixed into `lower.Lowerer`, which decides when they
are used; the scores come from `selectors`, the MLPs from `discretise`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.canonical import distributed, tie_broken
from compiler.discretise import pointwise
from compiler.errors import PRECISION, CompileError
from compiler.linear import BOS, ONE, Lin
from compiler.normalise import Width
from compiler.numtype import NumberTypes, share_points
from compiler.plan import LEAK, Head, HeadSpec, Linear, PNode, err_of
from compiler.selectors import Selectors, sharp
from compiler.values import (
    aggregate_values,
    distinct,
    is_number,
    is_numeric_like,
    selects_one_value,
    vkey,
)
from compiler.valuesets import MeanGrid
from rasp import ir


class Heads(Selectors, NumberTypes):
    """Mixed into `lower.Lowerer` (uses its analysis, memos, encodings and MLPs)."""

    a: Any
    n: int
    overrides: dict[str, str]
    attn_err: float  # relative error of a head's mean

    def aggregate(self, node: ir.Aggregate) -> PNode:
        x = self.lower(node.sop)
        info = self.a.selectors[node.selector.id]
        d = node.default
        numbers = x.enc == "numerical" or all(is_number(v) for v in x.domain)
        select_one = info.max_one or not numbers
        # Keys that all hold one value average to it whatever their weights.
        one_value = not info.max_one and selects_one_value(node, self.a)
        sp = self.selector(node.selector, equal_weights=not (select_one or one_value))
        want = self.overrides.get(node.name or "")
        if want == "numerical" and not numbers:
            raise CompileError(
                "a numerical encoding needs numbers",
                node,
                hint="drop `numerical`, or aggregate numbers (a dictionary "
                "or `indicator(...)` maps values to numbers)",
            )
        if want == "categorical" and not select_one:
            raise CompileError(
                "a categorical mean is exact only when at most one key is "
                "selected, which cannot be shown here",
                node,
                hint="drop `categorical` (a numerical mean is exact), or "
                "make the selector select one key: `and` it with a select "
                "that breaks ties by position",
            )
        numeric_default = d is None or is_numeric_like(d)
        if select_one and (x.enc == "categorical" and want != "numerical" or not numeric_default):
            x, xin = self.onehot(x, node.sop)
            out = with_default(x.domain, d)
            v = xin.left(out.embed) - Lin.const(out.base)
            head = sp.head(v, 1.0, node.selector)
            return self.pnode(
                Head,
                "categorical",
                out.values,
                node.label,
                node,
                head=head,
                base=out.base,
                err=err_of(xin) + self.attn_err,
                role="attention (select one)",
            )
        if not numeric_default:
            raise CompileError(
                f"a mean of numbers with the default {d!r} (not a number) "
                "cannot be encoded in one numeric dimension",
                node,
                hint="give `aggregate` a number as its default (0), or make "
                "the selector select at most one key",
            )
        v = self.numeric(x, node.sop) - Lin.const([0.0 if d is None else float(d)])
        return self.mean_head(node, node.selector, sp, v, x.values, d, select_one, one_value)

    def mean_head(
        self,
        node: ir.IRNode,
        sel: ir.Selector,
        sp: Any,
        v: Lin,
        values: list[Any] | None,
        d: Any,
        select_one: bool = False,
        one_value: bool = False,
    ) -> PNode:
        """A head averaging the number `v` (the values less the default `d`) over `sel`'s keys
        (`sp` its scores): its value set, error bound, number-type flag and grid."""
        info = self.a.selectors[sel.id]
        dval = 0 if d is None else d
        dnum = float(dval)
        spread = Spread.of(values, dnum)
        vmax = spread.vmax
        means = aggregate_values(values, info, dval, self.n, one_value)
        head = sp.head(v, max(vmax, 1.0), sel)
        unequal = 0.0 if select_one or one_value else head.unequal_err(self.n)
        return self.pnode(
            Head,
            "numerical",
            means,
            node.label,
            node,
            head=head,
            base=np.array([dnum]),
            err=err_of(v) + self.attn_err * max(vmax, 1.0) + unequal,
            rel=unequal / max(vmax, 1.0) if spread.one_sign else 0.0,
            flag=self.mean_flag(node, sel, values, d, means),
            grid=None if means is not None else MeanGrid.of(values, info, dnum, self.n),
            role="attention (select one)"
            if select_one
            else "attention (mean of one value)"
            if one_value
            else "attention (mean)",
        )

    def width(
        self,
        node: ir.IRNode,
        sel: ir.Selector,
        widths: list[int] | None = None,
        of: Callable[[int], Any] | None = None,
        label: str | None = None,
        equal: bool = True,
    ) -> PNode:
        """selector_width: BOS scores like a selected key, so it gets 1/(w+1) of the weight.
        An `or` that no single table or sum of tables expresses is split instead:
        width(a or b) = width(a) + width(b) - width(a and b) (the last is dropped when a and b
        never meet), each part a head and an MLP in the same layer, summed linearly.
        `of`: the MLP computes of(width) instead (the number type of a mean, say); `equal`
        False when it tells only a few widths apart: selected keys' scores may then differ
        in float32 (a quadratic equality score), their effect on the share is bounded."""
        widths = self.a.values[node.id] if widths is None else widths
        label = label or node.label
        sel = tie_broken(
            sel, self.a, lambda x, y: self.keys.of(x) == self.keys.of(y), self.footprint
        )
        stripped = self.strip_causal(sel)
        plan = None
        if stripped is None or isinstance(stripped, ir.Select) and stripped.op == "==":
            plan = self.selector(sel, need_threshold=True, equal_weights=equal)
        else:
            plan = self.try_selector(stripped)
            blurred = plan is not None and plan.blurred
            if blurred:
                plan = None  # too blurred in this float type: split it, or one joint table
            if plan is None:
                stripped = distributed(stripped)
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
                summed = self.pnode(
                    Linear,
                    "numerical",
                    list(widths),
                    node.label,
                    node,
                    lin=total,
                    role="sum of widths",
                )
                if of is None:
                    return summed
                return self.mlp([summed], pointwise(of), label, node, role="MLP (width)")
            if plan is None:
                try:
                    plan = self.joint_selector(stripped)
                except CompileError as err:
                    if not blurred or err.precision:
                        raise
                    # a wider float keeps the tables apart, where one joint table is too big
                    raise CompileError(
                        f"its attention scores are blurred in {self.prec.name} "
                        f"and one joint table is too large ({err.message})",
                        sel,
                        precision=True,
                        hint=PRECISION,
                    ) from None
        plan = sharp(plan, sel, self.prec)
        v = Lin(1, {BOS: np.ones((1, 1)), ONE: -np.ones((1, 1))})
        head = HeadSpec(plan.q, plan.k, plan.threshold, "equal", v, 1.0, sel, score_err=plan.err)
        of = of or (lambda w: w)
        if equal:
            lookup = {1.0 / (w + 1): of(w) for w in widths}
        else:  # each run of widths with one output: the range its shares fill
            got = share_points(widths, of, 2 * head.beta(self.n) * plan.err)
            if got is None:
                raise CompileError(
                    "its selected keys' scores could differ enough in "
                    f"{self.prec.name} to blur the widths it tells apart",
                    sel,
                    precision=True,
                    hint=PRECISION,
                )
            lookup = got
        share = self.pnode(
            Head,
            "numerical",
            sorted(lookup),
            f"1/(1+{node.label})",
            node,
            head=head,
            base=np.array([1.0]),
            role="attention (width, BOS share)",
            err=self.attn_err + (0.0 if equal else LEAK),
            checks=False,
        )
        return self.mlp([share], pointwise(lookup.__getitem__), label, node, role="MLP (width)")

    def width_of(self, sel: ir.Selector, whole: ir.IRNode) -> PNode:
        """The width of a part of a split selector (memoised by structure)."""
        key = ("width-part", self.keys.of(sel))
        got = self.shared.get(key)
        if got is None:
            part = Width(
                selector=sel, span=sel.span, path=sel.path, name=f"selector_width({sel.label})"
            )
            got = self.width(part, sel, list(range(self.n + 1)))
            got.checks = False
            self.shared[key] = got
        return got


@dataclass(frozen=True)
class OneHotDefault:
    """A select-one head's output encoding: the one-hot over `values` (the input's values
    and the default); `embed` [value, input value] maps the input's one-hot into it and
    `base` is the default's one-hot (what BOS, read by an empty selection, stands for)."""

    values: list[Any]
    embed: np.ndarray
    base: np.ndarray


def with_default(domain: list[Any], d: Any) -> OneHotDefault:
    """The one-hot of a value from `domain` or the default `d` (equal values are one)."""
    values = distinct([*domain, d])
    index = {vkey(v): i for i, v in enumerate(values)}
    embed = np.zeros((len(values), len(domain)))
    for j, v in enumerate(domain):
        embed[index[vkey(v)], j] = 1.0
    base = np.zeros(len(values))
    base[index[vkey(d)]] = 1.0
    return OneHotDefault(values, embed, base)


@dataclass(frozen=True)
class Spread:
    """How far a mean's values lie from its default: `vmax` the farthest (1e6 where the
    values are unknown); `one_sign` when all lie on one side, so that unequal weights move
    the mean by a factor (a relative error: a mean of 0/1 is 0 exactly when every selected
    key holds 0)."""

    vmax: float
    one_sign: bool

    @staticmethod
    def of(values: list[Any] | None, d: float) -> Spread:
        if values is None:
            return Spread(1e6, False)
        xs = np.array([float(t) for t in values])
        vmax = float(np.abs(xs - d).max()) if len(xs) else 1.0
        return Spread(vmax, bool((xs >= d).all() or (xs <= d).all()))
