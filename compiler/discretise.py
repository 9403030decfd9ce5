"""Discretising MLPs: a function of a few inputs' values, as one hidden layer of ReLU ramps.

Each input becomes one number u (its one-hot index, or its value over the smallest gap) and
z mixes them in a mixed radix, blocks far enough apart for the inputs' float32 error; the
output changes only at steps between two values z can take, each a ramp of two ReLUs (see
`assemble`). Refused (a CompileError) when the value tuples are too many, or float32 could
blur a step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from compiler.errors import (
    FEWER_VALUES,
    PRECISION,
    RAISES,
    ROUNDED,
    SPLIT,
    TYPES,
    CompileError,
)
from compiler.linear import Lin
from compiler.numtype import flag_readout
from compiler.plan import Linear, Mlp, MlpSpec, PNode, err_of, read
from compiler.precision import FLOAT32, Precision
from compiler.tabulate import MISSING, Ambiguous, agree, apply, product_rows
from compiler.values import distinct, vkey
from compiler.valuesets import numeric_arrays
from rasp import ir

MLP_TUPLES = 16384  # input tuples one MLP may enumerate
MAX_OUTPUTS = 16384  # distinct values one MLP may output (a one-hot each)
ONE_INPUT = 200_000  # values an MLP of one input may enumerate (see `_prune`)
NEAR = 1e-12  # relative distance below which two floats are one number computed two ways

Outputs = Callable[[list[list[list[Any]]]], list[Any]]  # groups -> output at every point


def pointwise(fn: Callable[..., Any]) -> Callable[[list[list[list[Any]]]], list[Any]]:
    """An MLP's outputs computed by calling fn at every point (see `discretise`)."""

    def outputs(groups: list[list[list[Any]]]) -> list[Any]:
        return [
            agree([apply(fn, args) for args in itertools.product(*choices)], choices)
            for choices in itertools.product(*groups)
        ]

    return outputs


def discretise(
    ins: list[PNode],
    outputs: Outputs,
    label: str,
    node: ir.IRNode | None,
    role: str,
    max_len: int,
    new: Callable[..., PNode],
    prec: Precision = FLOAT32,
) -> PNode:
    """A discretising MLP over the tuples of its inputs' values. `outputs(groups)` gives
    its output at every point of the product of the inputs' groups (a group: values one
    point stands for, equal as numbers), MISSING where the program raises."""
    domains: list[list[Any]] = []
    for p in ins:
        if p.values is None:
            raise CompileError(
                f"`{p.label}` can take too many values here to discretise (a mean over "
                f"up to {max_len} positions)",
                node,
                hint=FEWER_VALUES,
            )
        domains.append(p.values)
    sizes = [len(d) for d in domains]
    if math.prod(sizes) > (MLP_TUPLES if len(ins) > 1 else ONE_INPUT):
        desc = " x ".join(f"{s} ({p.label})" for s, p in zip(sizes, ins, strict=True))
        raise CompileError(
            f"its inputs take {desc} value combinations, more than an "
            f"MLP may enumerate ({MLP_TUPLES})",
            node,
            hint=SPLIT,
        )
    # Each input as one number u with gaps >= 1; z mixes them in a mixed radix. Values
    # equal as numbers (1, 1.0, True) are one point, unless the result depends on which:
    # then an input with a type flag (see numtype) reads it as one more bit of u.
    try:
        axes = _points(ins, domains, typed=False)
        outs = outputs([a.groups for a in axes])
    except Ambiguous as err:
        if not any(p.flag is not None and p.enc == "numerical" for p in ins):
            raise _cannot_tell(err.args[0], node) from None
        axes = _points(ins, domains, typed=True)
        try:
            outs = outputs([a.groups for a in axes])
        except Ambiguous as again:
            raise _cannot_tell(again.args[0], node) from None
    defined = [v for v in outs if v is not MISSING]
    if not defined:
        raise CompileError("it raises an error on every value it can receive", node, hint=RAISES)
    objects = {id(v): v for v in defined}  # outputs are mostly a few objects, repeated
    values = distinct(objects.values())
    index = {vkey(v): i for i, v in enumerate(values)}
    code_of = {i: index[vkey(v)] for i, v in objects.items()}
    code_of[id(MISSING)] = -1
    codes = np.array([code_of[id(v)] for v in outs])
    if len(values) > MAX_OUTPUTS:
        raise CompileError(
            f"it takes {len(values)} values, more than one MLP may write as a "
            f"one-hot ({MAX_OUTPUTS})",
            node,
            hint=FEWER_VALUES,
        )
    if len(values) == 1:
        return new(
            Linear, "categorical", values, label, node, lin=Lin.const([1.0]), role="constant"
        )
    slack = None  # per point, its error above the least (an input with a relative error)
    if len(ins) == 1:
        p, whole = ins[0], axes[0]
        cut = _prune(whole, codes)
        axes, codes = [cut.axis], cut.codes
        if p.rel > 0 and p.enc == "numerical" and p.base is not None:
            x = np.array([float(g[0]) for g in whole.groups])[cut.keep]
            off = np.abs(x - float(p.base[0]))
            u = cut.axis.u
            per_u = (u[-1] - u[0]) / (x[-1] - x[0]) if x[-1] > x[0] else 0.0
            spared = p.rel * (off.max() - off) * per_u
            # the least error, at the point nearest the base
            axes = [replace(cut.axis, err=cut.axis.err - float(spared.max()))]
            slack = spared.max() - spared  # what each point has more
    us, errs = [a.u for a in axes], [a.err for a in axes]
    idx = product_rows([len(u) for u in us])
    orders = (
        itertools.permutations(range(len(ins)))
        if len(ins) <= 4
        else [tuple(range(len(ins))), tuple(reversed(range(len(ins))))]
    )
    # which input varies fastest: the one with the fewest steps
    best = min(
        (_radix(perm, us, errs, idx, codes, prec.eps) for perm in orders), key=lambda r: r.cost
    )
    perm, mult, zs, filled, err_z = best.perm, best.mult, best.zs, best.codes, best.err_z
    if slack is not None:
        err_z += float(slack.max())  # the bound at the worst point
    if slack is not None and not best.cost[0]:
        # one input (z = u): each step against the larger error of the points beside it
        err_at = best.err_z + slack
        steps = np.flatnonzero(np.diff(best.codes) != 0) + 1
        near = np.maximum(err_at[steps - 1], err_at[steps])
        if len(steps) and (near > 0.1 * (best.zs[steps] - best.zs[steps - 1])).any():
            raise CompileError(
                f"its inputs are too close together to tell apart after {prec.name} rounding",
                node,
                precision=True,
                hint=PRECISION,
            )
    if best.cost[0]:
        raise CompileError(
            f"its inputs are too close together to tell apart after {prec.name} rounding",
            node,
            precision=True,
            hint=PRECISION,
        )
    if zs[-1] > prec.max_z:
        raise CompileError(
            f"its inputs take too many values to tell apart in {prec.name}",
            node,
            precision=True,
            hint=PRECISION,
        )
    z = Lin.const([0.0])
    for i, m in zip(perm, mult, strict=True):
        z = z + axes[i].lin.scaled(m)
    table = np.eye(len(values))[filled]
    spec = MlpSpec(z, zs, table, err_z, list(ins), codes=filled)
    changes = spec.changes()
    halves = (zs[changes] - zs[changes - 1]) / 2
    if len(changes) and slack is None and err_z > 0.2 * float(halves.min()):
        raise CompileError(
            f"its inputs are too close together to tell apart after {prec.name} rounding",
            node,
            precision=True,
            hint=PRECISION,
        )
    # Each ramp's ReLUs grow on its inexact side (the shorter one, see assemble) to `act`.
    lo, hi = float(zs[0]), float(zs[-1])
    mids = zs[changes] - halves
    spec.act = np.minimum(hi - mids, mids - lo) / halves + 1.0
    return new(
        Mlp, "categorical", values, label, node, mlp=spec, base=np.zeros(len(values)), role=role
    )


@dataclass(frozen=True)
class Axis:
    """One input as one number: its points `u` (sorted, gaps >= 1), the read-out `lin` of
    u, that read-out's float32 error, and the values each point stands for."""

    u: np.ndarray
    lin: Lin
    err: float
    groups: list[list[Any]]


def _points(ins: list[PNode], domains: list[list[Any]], typed: bool) -> list[Axis]:
    """Each input as an `Axis`. `typed`: a number with a type flag is two points per
    number, 2u (a float) and 2u + 1 (not a float)."""
    axes = []
    for p, domain in zip(ins, domains, strict=True):
        if p.enc == "categorical":
            u = np.arange(len(domain), dtype=np.float64)
            lin = read(p).left(u[None, :])
            axes.append(Axis(u, lin, err_of(lin), [[v] for v in domain]))
            continue
        x, members, spread = clusters(domain)
        gap = float(np.diff(x).min()) if len(x) > 1 else 1.0
        u = (x - x.min()) / gap
        lin = (read(p) - Lin.const([x.min()])).scaled(1.0 / gap)
        err = err_of(lin) + spread / gap
        if typed and p.flag is not None:
            bit = flag_readout(p.flag.node())
            lin = lin.scaled(2.0) + bit
            err = 2 * err + err_of(bit)
            u = np.repeat(2 * u, 2) + np.tile([0.0, 1.0], len(u))
            split = []
            for m in members:
                floats = [v for v in m if isinstance(v, float)] or m
                others = [v for v in m if not isinstance(v, float)] or m
                split += [floats, others]
            members = split
        axes.append(Axis(u, lin, err, members))
    return axes


@dataclass(frozen=True)
class Pruned:
    """An input's `Axis` cut to the points `keep` (indices into the whole), and the output
    codes there."""

    axis: Axis
    codes: np.ndarray
    keep: np.ndarray


def _prune(axis: Axis, codes: np.ndarray) -> Pruned:
    """One input's points reduced to those next to a change of the output, and its ends (a
    ramp holds its value beyond its points, so the points between add nothing): fewer
    points, and u rescaled so that the closest two left are 1 apart, which widens the
    steps against the input's float32 error."""
    u = axis.u
    defined = np.flatnonzero(codes >= 0)
    c = codes[defined]
    edge = np.zeros(len(c), dtype=bool)
    edge[1:] |= c[1:] != c[:-1]
    edge[:-1] |= c[:-1] != c[1:]
    keep = np.union1d(defined[edge], [0, len(u) - 1])
    if len(keep) == len(u):
        return Pruned(axis, codes, keep)
    kept = u[keep]
    gap = float(np.diff(kept).min())
    cut = Axis(
        (kept - kept[0]) / gap,
        (axis.lin - Lin.const([kept[0]])).scaled(1.0 / gap),
        axis.err / gap,
        [axis.groups[i] for i in keep.tolist()],
    )
    return Pruned(cut, codes[keep], keep)


def _cannot_tell(choices: list[list[Any]], node: ir.IRNode | None) -> CompileError:
    """The refusal when inputs one point stands for (`choices`: each input's values there)
    give different results: equal numbers of different types (1 and 1.0), or else floats a
    rounding error apart, one number computed two ways (see `clusters`)."""
    mixed = any(len({type(v) for v in group}) > 1 for group in choices)
    if mixed:
        return CompileError(
            f"its result depends on whether an input is {choices!r} (equal numbers of "
            "different types), which the model cannot tell apart",
            node,
            hint=TYPES,
        )
    return CompileError(
        f"its result depends on which of {choices!r} an input is (one number computed two "
        "ways, a rounding error apart), which the model cannot tell apart",
        node,
        hint=ROUNDED,
    )


def clusters(domain: list[Any]) -> tuple[np.ndarray, list[list[Any]], float]:
    """Numbers as the points a model can tell apart: values equal as numbers (1, 1.0, True),
    or floats a few units in the last place apart (one rational computed two ways, such as
    `2 + 1/3` and `1 + 4/3`), are one point. Returns the points (sorted), the values each
    stands for, and how far a value may sit from its point."""
    arrays = numeric_arrays(domain)
    if arrays is not None:
        return _clusters_of(domain, arrays[0])
    return clusters_by_loop(domain)


def clusters_by_loop(domain: list[Any]) -> tuple[np.ndarray, list[list[Any]], float]:
    """`clusters` one value at a time: for values that are not all plain numbers (and the
    reference the numpy path is tested against)."""
    xs = sorted(domain, key=float)
    points: list[float] = []
    members: list[list[Any]] = []
    spread = 0.0
    for v in xs:
        f = float(v)
        if points and f - points[-1] <= NEAR * max(1.0, abs(f)):
            members[-1].append(v)
            spread = max(spread, f - points[-1])
        else:
            points.append(f)
            members.append([v])
    return np.array(points), members, spread


def _clusters_of(
    domain: list[Any], floats: np.ndarray
) -> tuple[np.ndarray, list[list[Any]], float]:
    """`clusters` by numpy (100,000 means at max_len 400): a gap above the limit always
    starts a point; only values after a small gap are compared, in order, with the first
    value of their point."""
    order = np.argsort(floats, kind="stable")  # sorted(key=float) keeps ties in order
    f = floats[order]
    limit = NEAR * np.maximum(1.0, np.abs(f))
    new = np.ones(len(f), dtype=bool)
    new[1:] = f[1:] - f[:-1] > limit[1:]
    spread = 0.0
    starts = np.maximum.accumulate(np.where(new, np.arange(len(f)), 0))
    last = -1  # the latest small-gap value that started a point
    for i in np.flatnonzero(~new).tolist():
        start = max(int(starts[i]), last)
        if f[i] - f[start] <= limit[i]:
            spread = max(spread, float(f[i] - f[start]))
        else:
            new[i], last = True, i
    xs = [domain[i] for i in order.tolist()]
    bounds = [*np.flatnonzero(new).tolist(), len(xs)]
    members = [xs[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return f[new], members, spread


@dataclass
class Radix:
    """One way to mix the inputs into z: the order, the multipliers, and what it gives."""

    cost: tuple[bool, int, float]  # (some step blurred, steps, z's range): smaller is better
    perm: tuple[int, ...]  # perm[0] varies fastest
    mult: list[float]
    zs: np.ndarray  # sorted values of z
    codes: np.ndarray  # the output code at each, filled where the program raises
    err_z: float  # bound on z's float32 error


def _radix(perm, us, errs, idx, codes, eps: float) -> Radix:
    """Mix the inputs into one number z (perm[0] varies fastest), each input step >= 1 apart."""
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
        return Radix((True, len(codes), radix), perm, mult, np.zeros(len(idx)), codes, err_z)
    zs = np.zeros(len(idx))
    for i, m in zip(perm, mult, strict=True):
        zs += m * us[i][idx[:, i]]
    # z is a dot product: each of its few nonzero terms may round by eps of the sum
    err_z += 2 * eps * (len(perm) + 3) * (float(np.abs(zs).max()) + 1.0)
    order = np.argsort(zs, kind="stable")
    zs, c = zs[order], codes[order]
    known = np.flatnonzero(c >= 0)
    # Undefined points (the program raises there) take the value before them (or after).
    fill = known[np.maximum(np.searchsorted(known, np.arange(len(c)), side="right") - 1, 0)]
    c = c[fill]
    steps = np.flatnonzero(np.diff(c) != 0) + 1
    tight = float(((zs[steps] - zs[steps - 1]) / 2).min()) if len(steps) else 1.0
    too_close = err_z > 0.2 * tight  # some step would blur after float32 rounding
    return Radix((too_close, len(steps), radix), perm, mult, zs, c, err_z)
