"""Linear read-outs: how a value's encoding is computed from what the residual stream stores.

Every consumer (attention queries, keys and values, MLP inputs, the unembedding) reads the
residual stream linearly. A `Lin` says which linear function of stored values it reads:
`enc = sum(terms[src] @ enc(src))`, where `src` is a stored plan node (the object itself: no
registry), or the constant-1 dimension `ONE`, or the BOS-indicator dimension `BOS` (ints).
Values computed by linear maps (a map of a one-hot, `a - b` of numbers) are never stored:
their readers read through a `Lin`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ONE, BOS = -1, -2  # pseudo-sources: the constant-1 and the BOS-indicator dimensions


@dataclass
class Lin:
    rows: int
    terms: dict[Any, np.ndarray] = field(default_factory=dict)  # src -> [rows, encdim(src)]

    @staticmethod
    def of(src: Any, dim: int) -> Lin:
        return Lin(dim, {src: np.eye(dim)})

    @staticmethod
    def const(values) -> Lin:
        v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        return Lin(v.shape[0], {ONE: v})

    def __add__(self, other: Lin) -> Lin:
        assert self.rows == other.rows
        terms = dict(self.terms)
        for k, m in other.terms.items():
            terms[k] = terms[k] + m if k in terms else m
        return Lin(self.rows, terms)

    def __sub__(self, other: Lin) -> Lin:
        return self + other.scaled(-1.0)

    def scaled(self, c: float) -> Lin:
        return Lin(self.rows, {k: m * c for k, m in self.terms.items()})

    def left(self, matrix: np.ndarray) -> Lin:
        """matrix @ self."""
        matrix = np.asarray(matrix, dtype=np.float64)
        assert matrix.shape[1] == self.rows, (matrix.shape, self.rows)
        return Lin(matrix.shape[0], {k: matmul(matrix, m) for k, m in self.terms.items()})

    def stack(self, other: Lin) -> Lin:
        """Rows of self, then rows of other."""
        terms: dict[int, np.ndarray] = {}
        for k in set(self.terms) | set(other.terms):
            a = self.terms.get(k)
            b = other.terms.get(k)
            width = (a if a is not None else other.terms[k]).shape[1]
            a = np.zeros((self.rows, width)) if a is None else a
            b = np.zeros((other.rows, width)) if b is None else b
            terms[k] = np.vstack([a, b])
        return Lin(self.rows + other.rows, terms)

    def sources(self) -> list[Any]:
        """The stored plan nodes read (not ONE or BOS)."""
        return [k for k in self.terms if not isinstance(k, int)]

    def sources_terms(self) -> list[tuple[Any, np.ndarray]]:
        return [(k, m) for k, m in self.terms.items() if not isinstance(k, int)]


def stack_all(lins: list[Lin]) -> Lin:
    out = Lin(0)
    for lin in lins:
        out = out.stack(lin)
    return out


def is_identity(m: np.ndarray) -> bool:
    """Whether m is a square identity (as `Lin.of` reads a stored value whole)."""
    n = m.shape[0]
    return (
        m.ndim == 2
        and m.shape[1] == n
        and np.count_nonzero(m) == n
        and bool((np.diagonal(m) == 1.0).all())
    )


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, without the cubic product when b is an identity (a read-out of a stored value
    read whole, 1,000 wide at max_len 512): a copy of a, + 0.0 turning -0.0 into 0.0 as the
    product does."""
    if is_identity(b) and a.shape[-1] == b.shape[0]:
        return np.asarray(a, dtype=np.float64) + 0.0
    return a @ b
