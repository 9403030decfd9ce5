"""Fusion: which elementwise subtree one MLP computes. The whole tree down to heads and
embeddings when its input tuples stay few (one MLP layer), else a frontier grown greedily
(absorbing MLPs saves layers; collapsing maps of one input saves tuples), else the direct
inputs; the first precise enough wins (a wide MLP's float32 error can blur later steps).
Polynomial: boundaries memoised per node, a bounded number of leaf moves, and the columns
of a tree over the same leaves tabulated once."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

import numpy as np

from compiler.errors import CompileError
from compiler.plan import Linear, Mlp, PNode
from compiler.tabulate import tree_outputs
from rasp import ir

FUSE_TUPLES = 4096  # input tuples of a fused MLP (a direct one may have MLP_TUPLES)
MAX_LEAVES = 12  # inputs one fused MLP may read (see `boundary`)
MAX_FUSE_STEPS = 1000  # leaf moves while choosing what one MLP fuses
PRECISE = 1e-4  # read-out error of a fused MLP that is kept without trying more layers
PRECISE_FEW = 1e-3  # the same, for an MLP over the token itself and heads (`boundary`)


class Fusion:
    """Mixed into `lower.Lowerer` (uses its lower, mlp, keys, footprint and memos)."""

    a: Any
    keys: Any
    tables: dict
    bounds: dict[tuple[int, bool], list[ir.IRNode] | None]
    sizes: dict[int, int]  # values an s-op takes (see `_tuples`)
    lower: Callable[[ir.IRNode], PNode]
    mlp: Callable[..., PNode]
    footprint: Callable[[ir.IRNode], frozenset[str]]

    def fused(self, node: ir.IRNode) -> PNode:
        """One MLP for a tree of elementwise operations, over the tuple of its leaves (or, if
        that mix cannot be discretised exactly, over its direct inputs: one more layer)."""
        few = self.boundary(node, collapse=True)  # token functions read as the token
        made: list[PNode] = []
        failed: CompileError | None = None
        for leaves in self._options(node, few):

            def outputs(groups, leaves=leaves):
                # (columns over these leaves' points: a typed retry has other points)
                key = (*(self.keys.of(x) for x in leaves), *(len(g) for g in groups))
                done = self.tables.setdefault(key, {})
                return tree_outputs(node, leaves, groups, self.keys.of, done)

            try:
                ins = [self.lower(x) for x in leaves]
                p = self.mlp(ins, outputs, node.label, node, role="MLP")
            except CompileError as err:
                failed = err
                continue
            made.append(p)
            # precise enough: keep the fewer layers (reading the token and heads themselves,
            # a step of a long chain does not add its error to the next one's)
            enough = PRECISE_FEW if leaves is few else PRECISE
            if not isinstance(p, Mlp) or p.read_err(np.eye(p.encdim)) < enough:
                break
        if not made:
            assert failed is not None
            raise failed
        # Else the more precise one: a wide fused MLP's float32 error can make later steps
        # impossible to tell apart.
        return min(made, key=lambda p: p.read_err(np.eye(p.encdim)) if isinstance(p, Mlp) else 0)

    def _options(self, node: ir.IRNode, few: list[ir.IRNode] | None) -> Iterator[list[ir.IRNode]]:
        """What one MLP for node may read, fewest layers first: the whole tree (over the
        token itself when that is fewer leaves), a frontier, the direct inputs. Lazily: the
        frontier search is skipped when the whole tree is precise enough."""
        seen: set[frozenset[int]] = set()

        def new(leaves: list[ir.IRNode]) -> bool:
            key = frozenset(self.keys.of(x) for x in leaves)
            fresh = key not in seen
            seen.add(key)
            return fresh

        whole = self.boundary(node)  # the whole tree down to heads and embeddings
        if (
            few is not None
            and (whole is None or len(few) < len(whole))
            and (self._tuples(few) <= FUSE_TUPLES)
            and new(few)
        ):
            yield few
        if whole is not None and self._tuples(whole) <= FUSE_TUPLES and new(whole):
            yield whole
        frontier = self.frontier(node)
        if new(frontier):
            yield frontier
        direct = list(
            {self.keys.of(c): c for c in node.children() if not isinstance(c, ir.Full)}.values()
        )
        if new(direct):  # (the direct inputs: one more layer)
            yield direct

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
            if isinstance(p, Linear):
                return any(isinstance(s, Mlp) for s in p.lin.sources())
            return isinstance(p, Mlp)

        def collapsible(x: ir.IRNode) -> TypeGuard[ir.Map]:  # a map read linearly: fuse?
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
                    if tuples(t) <= FUSE_TUPLES:
                        trial = t
                        break
            if trial is None:  # maps of one input replaced by that input: fewer tuples
                groups: dict[int, list[ir.Map]] = {}
                for x in leaves:
                    if collapsible(x):
                        groups.setdefault(self.keys.of(x.child), []).append(x)
                now = tuples(leaves)
                for group in groups.values():
                    t = uniq(
                        [y for y in leaves if all(y is not g for g in group)] + [group[0].child]
                    )
                    if tuples(t) < now:
                        trial = t
                        break
            if trial is None:
                break
            leaves = trial
        return leaves

    def _tuples(self, xs: list[ir.IRNode]) -> int:
        """How many value tuples an MLP reading xs would enumerate."""
        return math.prod(self._size(y) for y in xs)

    def _size(self, x: ir.IRNode) -> int:
        key = self.keys.of(x)
        got = self.sizes.get(key)
        if got is None:
            try:
                vals = self.lower(x).values
            except CompileError:
                vals = None
            got = self.sizes[key] = 10**9 if vals is None else max(1, len(vals))
        return got

    def boundary(self, node: ir.IRNode, collapse: bool = False) -> list[ir.IRNode] | None:
        """The heads and embedded values under node's elementwise tree (the leaves of the
        largest MLP that could compute it); None when there are more than MAX_LEAVES.
        `collapse`: a function of the token (or position) alone is read as the token
        itself, so that a long chain of tests on the token (`x = "v" if tokens == "a" and
        ... else x`, 900 times) stays a few leaves: one MLP, not one layer per step."""
        key = (self.keys.of(node), collapse)
        if key not in self.bounds:
            out = self._leaves(node, collapse)
            self.bounds[key] = None if out is None else [out[k] for k in sorted(out)]
        return self.bounds[key]

    def _leaves(self, node: ir.IRNode, collapse: bool) -> dict[int, ir.IRNode] | None:
        out: dict[int, ir.IRNode] = {}
        for c in node.children():
            if isinstance(c, ir.Full):
                continue
            if not self._fusable(c):
                if collapse and self.footprint(c) in ({"T"}, {"I"}):
                    out.update(
                        (self.keys.of(x), x)
                        for x in ir.walk([c])
                        if isinstance(x, ir.Tokens | ir.Indices)
                    )
                else:
                    out[self.keys.of(c)] = c
                continue
            sub = self.boundary(c, collapse)
            if sub is None:
                return None
            out.update((self.keys.of(x), x) for x in sub)
            if len(out) > MAX_LEAVES:
                return None
        return out

    def _fusable(self, x: ir.IRNode) -> bool:
        """An elementwise s-op that reads a head: an MLP may compute it from what it reads."""
        return isinstance(x, ir.Map | ir.SequenceMap) and "A" in self.footprint(x)
