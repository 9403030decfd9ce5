"""The plan graph: what the compiler lowers the IR to, before weights exist.

A `PNode` is a value the model computes at every position, one class per way: stored nodes
own residual dimensions: `Embedded` (kind `tok`/`pos`, in the token / position embedding),
`Mlp` (an MLP's output) and `Head` (an attention head's output); `Linear` nodes are read
through a `Lin` and own nothing.
Encodings: `cat` is one-hot over `values`; `num` is one dimension holding the value.
A stored node's dimensions hold `P @ (enc - base)` (P: the read-outs its readers need), so
that they are zero at the BOS position, which every reader corrects for with the BOS dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compiler.errors import FEWER_VALUES, CompileError
from compiler.linear import Lin
from compiler.precision import F32_EPS
from compiler.valuesets import MeanGrid
from rasp import ir

LEAK = 1e-9  # attention weight allowed on keys that should get none, in total


@dataclass
class MlpSpec:
    """A discretising MLP: z (one number read linearly) takes the values `points` (sorted, at
    least 1 apart); the output encoding at points[j] is outs[j]; steps sit at the midpoints."""

    z: Lin
    points: np.ndarray
    outs: np.ndarray  # [len(points), encdim]
    err_z: float
    inputs: list[PNode] = field(default_factory=list)
    act: np.ndarray | None = None  # per step: how large its ReLUs grow on their inexact side
    codes: np.ndarray | None = None  # outs[j] is the one-hot of codes[j] (cheaper to read)

    def changes(self) -> np.ndarray:
        """Indices j >= 1 where the output changes between points[j-1] and points[j]."""
        if len(self.points) < 2:
            return np.zeros(0, dtype=np.int64)
        if self.codes is not None:
            return np.flatnonzero(np.diff(self.codes) != 0) + 1
        diff = np.abs(np.diff(self.outs, axis=0)).max(axis=1) > 0
        return np.flatnonzero(diff) + 1

    @property
    def hidden(self) -> int:
        return 1 + 2 * len(self.changes())


@dataclass
class HeadSpec:
    """Attention: q.k == T on selected keys and <= T-1 elsewhere; the BOS key scores T - 1/2
    ('half': empty selections read BOS, which carries the default) or T ('equal': BOS counts
    as one more selected key, as selector_width needs); with 'none' (selections are never
    empty) `bos_k` is the BOS key's vector, which scores at least 1 below the selected key.
    `v`: what a key contributes, minus the output's base (so BOS, which contributes 0, stands
    for the default)."""

    q: Lin
    k: Lin
    threshold: float
    bos: str
    v: Lin
    vmax: float
    selector: ir.IRNode | None = None
    bos_k: np.ndarray | None = None  # 'none' mode: the BOS key's q.k read-out (never chosen)
    score_err: float = 0.0  # bound on the float32 error of q.k: every margin shrinks by twice it

    def beta(self, n: int) -> float:
        """The softmax scale: keys scoring below the selected ones (by the gap around BOS,
        less what float32 error takes from it) get at most LEAK of the weight in total."""
        delta = (0.5 if self.bos == "half" else 1.0) - 2 * self.score_err
        assert delta > 0.25, "scores this blurred are refused when lowering"
        return math.log((n + 2) * 2 * max(self.vmax, 1.0) / LEAK) / delta

    def unequal_err(self, n: int) -> float:
        """Bound on the error of a mean over several selected keys whose scores, equal in
        exact arithmetic, differ by up to twice `score_err` in float32 (so do their weights,
        by a factor of up to exp(2 * beta * score_err))."""
        return self.vmax * math.expm1(2 * self.beta(n) * self.score_err)


@dataclass(frozen=True)
class Flag:
    """A 0/1 value, 1 exactly where its value is not a float (see numtype); built on first
    use."""

    key: tuple  # equal keys: the same flag
    build: Callable[[], PNode] = field(compare=False, repr=False)
    ints: bool = False  # where it is 1 the value is an int (so a number rounds to it)

    def node(self) -> PNode:
        return self.build()


@dataclass(eq=False)
class PNode:
    """A value the model computes at every position; one subclass per way of computing it."""

    kind: ClassVar[str]  # 'tok' 'pos' 'linear' 'mlp' 'head' (the manifest's word)
    enc: str  # 'categorical' | 'numerical' (the manifest's words)
    values: list[Any] | None
    label: str
    ir: ir.IRNode | None = None
    base: np.ndarray | None = None  # stored nodes hold enc - base (zero at BOS)
    err: float = 0.0
    rel: float = 0.0  # of err, rel * max|v - base| shrinks to rel * |v - base| at a value v
    role: str = ""  # what it is, for the plan printout
    checks: bool = True  # its value is its IR node's value (verify compares them)
    flag: Flag | None = None  # where its value may be 1 or 1.0: which (see numtype)
    grid: MeanGrid | None = None  # a mean's values, described, where too many to list
    eps: float = field(default=F32_EPS, kw_only=True)  # the model's unit roundoff
    id: int = field(default=0, kw_only=True)  # creation order (the layout's tie-break)

    @property
    def encdim(self) -> int:
        return len(self.domain) if self.enc == "categorical" else 1

    @property
    def domain(self) -> list[Any]:
        """The value set where it is known: always for a one-hot; a numeric node's is None
        when a mean can take too many values."""
        if self.values is None:
            raise CompileError(
                f"`{self.label}` can take too many values here", self.ir, hint=FEWER_VALUES
            )
        return self.values

    def where(self) -> str:
        return self.ir.where() if self.ir is not None else ""

    def read_err(self, m: np.ndarray) -> float:
        """Bound on the float32 error of the read-outs m @ enc (max over rows of m)."""
        return float(self.read_errs(m).max())

    def read_errs(self, m: np.ndarray) -> np.ndarray:
        """The bound of each read-out (row of m) on its own."""
        m = np.atleast_2d(m)
        return self.err * (_linf(m) if self.enc == "categorical" else np.abs(m).sum(axis=1))


def _linf(m: np.ndarray) -> np.ndarray:
    """One-hots: the error is a little weight (or rounding) moved between values, so a
    read-out errs by at most twice its largest coefficient times that."""
    return 2 * np.abs(m).max(axis=1) if m.size else np.abs(m).sum(axis=1)


@dataclass(eq=False, kw_only=True)
class Embedded(PNode):
    """A function of the token (kind 'tok') or of the position ('pos'): a table."""

    kind: str  # type: ignore[misc]  # 'tok' | 'pos'
    table: np.ndarray  # [vocab or max_len, encdim]

    def read_errs(self, m: np.ndarray) -> np.ndarray:
        return self.eps * _linf(np.atleast_2d(m))  # exact, rounded once


@dataclass(eq=False, kw_only=True)
class Linear(PNode):
    """A linear function of stored values: read through `lin`, never stored itself."""

    kind: ClassVar[str] = "linear"
    lin: Lin


@dataclass(eq=False, kw_only=True)
class Mlp(PNode):
    """A discretising MLP's output (see `MlpSpec`)."""

    kind: ClassVar[str] = "mlp"
    mlp: MlpSpec

    def read_errs(self, m: np.ndarray) -> np.ndarray:
        if self.mlp.act is None:
            return super().read_errs(m)
        m = np.atleast_2d(m)
        steps, codes = self.mlp.changes(), self.mlp.codes
        if codes is not None:  # one-hots: a step reads column codes[j] less codes[j - 1]
            jumps = m[:, codes[steps]] - m[:, codes[steps - 1]]  # [rows, steps]
        else:
            jumps = ((self.mlp.outs[steps] - self.mlp.outs[steps - 1]) @ m.T).T
        per_row = np.abs(jumps) @ self.mlp.act  # [rows]
        return self.eps * (4 * per_row + 1.68 * np.abs(m).sum(axis=1))


@dataclass(eq=False, kw_only=True)
class Head(PNode):
    """An attention head's output (see `HeadSpec`)."""

    kind: ClassVar[str] = "head"
    head: HeadSpec


def read(p: PNode) -> Lin:
    """enc(p) as a linear function of stored values."""
    return p.lin if isinstance(p, Linear) else Lin.of(p, p.encdim)


def err_of(lin: Lin) -> float:
    """Bound on the float32 error of a read-out (max over its rows)."""
    return sum(s.read_err(m) for s, m in lin.sources_terms())


def errs_of(lin: Lin) -> np.ndarray:
    """The bound of each row of a read-out on its own."""
    out = np.zeros(lin.rows)
    for s, m in lin.sources_terms():
        out = out + s.read_errs(m)
    return out
