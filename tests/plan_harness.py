"""A harness for the compiler's builder tests: a `Lowerer` for one hand-made expression
(`lowered`) and its plan nodes evaluated on one input as their specifications say (`Input`,
`scores`; not through `assemble`), beside the interpreter's selection matrices."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.budget import Budget
from compiler.linear import ONE, Lin
from compiler.lower import Lowerer
from compiler.normalise import normalise
from compiler.plan import Embedded, Head, HeadSpec, Mlp
from compiler.testing import env_with
from compiler.values import analyse
from rasp import ir
from rasp.interpreter import evaluate_nodes


@dataclass
class Input:
    """One input as the model reads it, by its plan nodes' specifications (not through
    `assemble`): embeddings' table rows, discretising MLPs' outputs at the point z lands on,
    heads' softmax over BOS and the keys (BOS scoring as its mode says, contributing 0)."""

    vocab: list[Any]
    n: int  # max_len: a head's softmax scale
    tokens: list[Any]

    def encoding(self, src: Any, i: int) -> np.ndarray:
        """A stored node's encoding at position i (not BOS)."""
        if isinstance(src, Embedded):
            return src.table[self.vocab.index(self.tokens[i]) if src.kind == "tok" else i]
        if isinstance(src, Mlp):
            z = float(self.value(src.mlp.z, i)[0])
            j = int(np.argmin(np.abs(src.mlp.points - z)))
            assert abs(src.mlp.points[j] - z) < 0.25, "z lands between the MLP's points"
            return src.mlp.outs[j]
        assert isinstance(src, Head) and src.base is not None
        vs = np.stack([self.value(src.head.v, j) for j in range(len(self.tokens))])
        return src.base + self.weights(src.head, i)[1:] @ vs

    def value(self, lin: Lin, i: int) -> np.ndarray:
        """A read-out at position i (the BOS dimension is 0 there)."""
        out = lin.terms[ONE][:, 0].copy() if ONE in lin.terms else np.zeros(lin.rows)
        for src, m in lin.sources_terms():
            out += m @ self.encoding(src, i)
        return out

    def weights(self, head: HeadSpec, i: int) -> np.ndarray:
        """Query i's attention weights over [BOS, key 0, key 1, ...]."""
        q = self.value(head.q, i)
        bos = {"half": head.threshold - 0.5, "equal": head.threshold, "none": None}[head.bos]
        if bos is None:
            assert head.bos_k is not None
            bos = float(q @ head.bos_k)
        s = [bos] + [float(q @ self.value(head.k, j)) for j in range(len(self.tokens))]
        e = np.exp(head.beta(self.n) * (np.array(s) - max(s)))
        return e / e.sum()


def lowered(expr: str, vocab: list[Any], n: int, source: str = "") -> tuple[Lowerer, ir.SOp]:
    """A Lowerer over the value sets of one expression (normalised, as `compile` does)."""
    root = normalise(env_with(source).expression(expr))
    return Lowerer(analyse([root], vocab, n, Budget(limit=None))), root


def scores(lw: Lowerer, q: Lin, k: Lin, tokens: list[Any]) -> np.ndarray:
    """q.k at [query position, key position] of one input."""
    x = Input(list(lw.vocab), lw.n, tokens)
    qs = np.stack([x.value(q, i) for i in range(len(tokens))])
    ks = np.stack([x.value(k, i) for i in range(len(tokens))])
    return qs @ ks.T


def selection(sel: ir.Selector, inputs: list[list[Any]]) -> np.ndarray:
    """The interpreter's [input, query, key] selection matrix."""
    return np.asarray(evaluate_nodes([sel], inputs)[sel.id], dtype=bool)


def every_input(vocab: list[Any], n: int) -> list[list[Any]]:
    return [list(t) for t in itertools.product(vocab, repeat=n)]


def node_of(text: str, kind: type) -> Any:
    """The IR node of an expression over the standard library, checked to be a `kind`."""
    node = env_with().expression(text)
    assert isinstance(node, kind), node
    return node
