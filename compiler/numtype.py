"""Number types: whether a value is 1 or 1.0 where the interpreter's answer depends on the input.

The interpreter (as the original RASP) gives a mean over exactly one selected key as that
key's own value (an int stays an int), over two or more keys a float, over none the default.
So `aggregate(prevs, indicator(x))` is 1 on some inputs and 1.0 on others, and one number in
the residual stream cannot say which. Where a value set holds such twins, the value gets a
`Flag`: a 0/1 value that is 1 exactly where the value is not a float. A mean's flag is a
function of its selector's width: a table in the position embedding (free) when the selector
compares positions and never selects a later one, else a BOS-share head and a small MLP.

A flag is built only where the type is read: the output (decoded by it), an MLP whose result
differs between 1 and 1.0 (it reads the flag as one more input bit), and sums and affine maps
that keep the type (int op int is an int, float op int a float) pass it on. A value whose type
can differ and that has no flag refuses where the type would matter, so the model never
decodes the wrong type.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from compiler.errors import TYPES, CompileError
from compiler.linear import Lin
from compiler.plan import Flag, Linear, PNode, read
from compiler.precision import FLOAT64, Precision
from compiler.scores import combine, select_atoms, truth_table
from compiler.tabulate import MISSING, tabulate
from compiler.values import distinct, is_numeric_like, vkey
from compiler.valuesets import numeric_arrays
from rasp import ir
from rasp.columns import BOOL, FLOAT, INT, type_class


def nonfloat(v: Any) -> bool:
    return type_class(v) in (INT, BOOL)


def ambiguous(values: Sequence[Any] | None) -> bool:
    """Some number occurs in the set with two types (1 and 1.0, or 1 and True)."""
    arrays = numeric_arrays(values or [])
    if arrays is not None:  # the same, by numpy (sets of 100,000 means)
        return _twins(*arrays)
    seen: dict[float, int] = {}
    for v in values or ():
        if is_numeric_like(v) and seen.setdefault(float(v), type_class(v)) != type_class(v):
            return True
    return False


def _twins(floats: np.ndarray, classes: np.ndarray) -> bool:
    """Whether some number occurs with two type classes."""
    order = np.lexsort((classes, floats))
    f, c = floats[order], classes[order]
    return bool(((f[1:] == f[:-1]) & (c[1:] != c[:-1])).any())


def flaggable(values: Sequence[Any]) -> bool:
    """Each number occurs at most once as a float and at most once otherwise, so a flag
    (float or not) tells its twins apart."""
    arrays = numeric_arrays(values)
    if arrays is not None:  # the same, by numpy: no number is both an int and a bool
        floats, classes = arrays
        nonfloats = classes != FLOAT
        return not _twins(floats[nonfloats], classes[nonfloats])
    seen: dict[tuple[float, bool], int] = {}
    for v in values:
        if is_numeric_like(v) and seen.setdefault(
            (float(v), nonfloat(v)), type_class(v)
        ) != type_class(v):
            return False
    return True


def share_points(
    widths: list[int], of: Callable[[int], Any], spread: float
) -> dict[float, Any] | None:
    """Where a BOS share 1/(1 + w) may lie when the selected keys' weights differ by a
    factor up to e^spread (scores equal only up to rounding): for each run of consecutive
    widths with one output, the two ends of the range its shares fill, mapped to that output
    (an MLP then steps only between runs). None when two runs' ranges meet."""
    runs: list[tuple[int, int, Any]] = []
    for w in sorted(widths):
        out = of(w)
        if runs and runs[-1][1] == w - 1 and vkey(runs[-1][2]) == vkey(out):
            runs[-1] = (runs[-1][0], w, out)
        else:
            runs.append((w, w, out))
    points: dict[float, Any] = {}
    below = math.inf  # the lowest share of the runs of smaller widths
    for first, last, out in runs:  # ascending widths: descending shares
        high = 1.0 / (1.0 + first * math.exp(-spread))
        low = 1.0 / (1.0 + last * math.exp(spread))
        if high >= below:
            return None
        points[high] = points[low] = out
        below = low
    return points


def keeps_type(fn: Callable[..., Any], sets: list[list[Any]], flagged: list[bool]) -> bool:
    """fn's result is a float exactly when its flagged inputs are (all flagged inputs share
    one flag, so they are floats together): checked on every tuple of values."""
    if math.prod([len(s) for s in sets]) > 20_000:
        return False
    for args in itertools.product(*sets):
        kinds = {nonfloat(a) for a, f in zip(args, flagged, strict=True) if f}
        if len(kinds) > 1:
            continue  # never together: one flag
        try:
            out = fn(*args)
        except Exception:  # noqa: BLE001 - no output there to decode
            continue
        if not is_numeric_like(out):
            return False
        if kinds and nonfloat(out) != kinds.pop():
            return False
    return True


def untyped(node: ir.IRNode) -> Flag:
    """The flag of a value whose type may vary in ways no flag here tracks (a mean of keys
    that are ints or floats, with too many values to list): reading it refuses, so the
    value compiles wherever its type is never read (compared, rounded) and nowhere else."""

    def build() -> PNode:
        raise CompileError(
            "its value may be an int or an equal float (a mean over one selected key "
            "passes that key's type through), and the model cannot tell which here",
            node,
            hint=TYPES,
        )

    return Flag(("untyped", node.id), build)


class NumberTypes:
    """Mixed into `lower.Lowerer` (uses its analysis, memos, embeddings and widths)."""

    a: Any
    n: int
    keys: Any
    shared: dict
    footprint: Callable[[ir.IRNode], frozenset[str]]
    pnode: Callable[..., PNode]
    base_embedding: Callable[[str], PNode]
    width: Callable[..., PNode]
    prec: Precision

    def mean_flag(
        self,
        node: ir.IRNode,
        sel: ir.Selector,
        keys: list[Any] | None,
        default: Any,
        means: list[Any] | None,
    ) -> Flag | None:
        """The flag of a mean over `sel` of values from `keys` whose value set is `means`
        (None: its type never varies, or a flag cannot tell its twins apart). A set too
        large to list (None) may hold twins: it gets a flag too."""
        if means is not None and (not ambiguous(means) or not flaggable(means)):
            return None  # the read-out sees the twins in `means` and refuses if it must
        if keys is not None and all(nonfloat(k) for k in keys):
            single = True
        elif keys is not None and all(isinstance(k, float) for k in keys):
            single = False
        elif means is not None:
            return None  # as above: the twins are in `means`
        else:  # the key's own type varies (or is unknown) and no value set shows it
            return untyped(node)
        zero = nonfloat(0 if default is None else default)
        low = 1 if self.a.selectors[sel.id].nonempty else 0
        widths = list(range(low, self.n + 1))
        kinds = tuple(zero if w == 0 else single if w == 1 else False for w in widths)
        if not any(kinds):
            return None  # a float at every width (float keys over a never-empty selection)
        key = ("type flag", self.keys.of(sel), low, kinds)
        ints = all(type(v) is int for v in [*keys, 0 if default is None else default])

        def build() -> PNode:
            got = self.shared.get(key)
            if got is None:
                got = self.shared[key] = self._flag_node(node, sel, widths, kinds)
            return got

        return Flag(key, build, ints)

    def passed_flag(
        self, fn: Callable[..., Any], ins: list[PNode], values: list[Any] | None
    ) -> Flag | None | Literal[False]:
        """The flag a sum or affine map of `ins` passes on: None where its values never
        differ by type alone, False where a linear read-out would lose the type (an MLP
        computes it then)."""
        if values is None:  # too many to list: no way to check the type is kept
            return False if any(p.flag is not None for p in ins) else None
        if not ambiguous(values):
            return None
        flags = {p.flag for p in ins if p.flag is not None}
        sets = [p.values for p in ins]
        if len(flags) != 1 or values is None or not flaggable(values):
            return False
        known = [s for s in sets if s is not None]
        if len(known) < len(sets) or not keeps_type(fn, known, [p.flag is not None for p in ins]):
            return False
        return flags.pop()

    def _flag_node(
        self, node: ir.IRNode, sel: ir.Selector, widths: list[int], kinds: tuple[bool, ...]
    ) -> PNode:
        of = dict(zip(widths, kinds, strict=True))
        label = f"int?({node.label})"
        per_pos = self._position_widths(sel)
        if per_pos is not None:
            outs = [of[w] for w in per_pos]
            values = distinct(outs)
            index = {vkey(v): i for i, v in enumerate(values)}
            m = np.zeros((len(values), self.n))
            for pos, v in enumerate(outs):
                m[index[vkey(v)], pos] = 1.0
            base = self.base_embedding("pos")
            p = self.pnode(
                Linear,
                "categorical",
                values,
                label,
                node,
                lin=Lin.of(base, self.n).left(m),
                role="position function (type of a mean)",
            )
        else:
            try:  # scores that need not be equal (fewer dimensions), if precise enough
                p = self.width(node, sel, widths, of=of.__getitem__, label=label, equal=False)
            except CompileError as err:
                if err.precision and self.prec.eps > FLOAT64.eps:
                    raise  # float64 keeps these few dimensions; one-hot tables grow with n
                p = self.width(node, sel, widths, of=of.__getitem__, label=label)
            p.role = "MLP (type of a mean)"
        p.checks = False
        return p

    def _position_widths(self, sel: ir.Selector) -> list[int] | None:
        """Each position's width when the selector compares functions of the position and
        never selects a later key (so the width does not depend on the length)."""
        atoms = select_atoms(sel)
        if any(self.footprint(s) - {"I"} for at in atoms for s in (at.keys, at.queries)):
            return None
        index = list(range(self.n))
        tables = {}
        for at in atoms:
            kc = tabulate(at.keys, self.n, {}, index=index)
            qc = tabulate(at.queries, self.n, {}, index=index)
            if any(v is MISSING for v in [*kc.table, *qc.table]):
                return None
            t = truth_table(at, kc.table, qc.table)
            tables[at.id] = t[qc.codes][:, kc.codes]  # [query position, key position]
        chosen = combine(sel, tables)
        if np.triu(chosen, 1).any():
            return None
        return [int(c) for c in chosen.sum(axis=1)]


def output_flag(root: PNode) -> Lin | None:
    """The read-out of a numeric output's flag, where its number type can differ (the
    decoder picks 1 or 1.0 by it); None where it cannot. A CompileError where it can and no
    flag tells which."""
    if root.values is None and root.flag is not None:  # too many values to list
        if not root.flag.ints:
            raise CompileError(
                "its value may be an int or an equal float, and it takes too "
                "many values for the decoder to list",
                root.ir,
                hint=TYPES,
            )
        return flag_readout(root.flag.node())  # 1: the number rounds to an int
    if not ambiguous(root.values):
        return None
    if root.flag is None or not flaggable(root.domain):
        raise CompileError(
            "its value is an int on some inputs and an equal float on others (a mean over "
            "one selected key passes that key's int through; over several it is a float), "
            "and the model cannot tell which here",
            root.ir,
            hint=TYPES,
        )
    return flag_readout(root.flag.node())


def flag_readout(flag: PNode) -> Lin:
    """A flag as one number, 0 or 1."""
    return (
        read(flag)
        if flag.enc == "numerical"
        else read(flag).left(np.array([[float(v) for v in flag.domain]]))
    )
