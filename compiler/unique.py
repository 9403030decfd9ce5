"""Distinct rows of a matrix, as `np.unique(a, axis=0, return_inverse=True)` gives them (rows
sorted lexicographically by value), without its cost: numpy sorts rows as structured records
compared field by field, which took seconds per table at max_len 512 (a truth table over
1,000 x 1,000 values). Here each row becomes a byte string whose byte order is its value
order (bools packed 8 to a byte): up to 8 bytes, one uint64 for numpy's 1-d unique (a
million (query, key) pairs of a few selects); longer, a dict finds the distinct rows and a
sort of those few strings orders them.
"""

from __future__ import annotations

import numpy as np

_SIGN = np.uint64(1 << 63)


def _ordered_bytes(a: np.ndarray) -> np.ndarray | None:
    """[rows, bytes] whose bytewise order (and equality) is `a`'s row-wise value order (and
    equality; -0.0 equals 0.0; no NaN). None for dtypes without such bytes here."""
    if a.dtype == np.bool_:
        return np.packbits(a, axis=1)  # first column in the high bit: the same order
    if a.dtype.kind == "i":
        u = a.astype(np.int64).view(np.uint64) ^ _SIGN  # negatives below positives
    elif a.dtype.kind == "u":
        u = a.astype(np.uint64)
    elif a.dtype.kind == "f":
        u = (a.astype(np.float64) + 0.0).view(np.uint64)  # -0.0 -> 0.0, as == has them
        u = np.where(u & _SIGN, ~u, u | _SIGN)  # negatives reversed, below positives
    else:
        return None
    return np.ascontiguousarray(u.astype(">u8")).view(np.uint8).reshape(a.shape[0], -1)


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows in lexicographic order, for each row of `a` the index of its own)."""
    a = np.asarray(a)
    assert a.ndim == 2, a.shape
    if a.size == 0 or a.dtype.kind not in "biuf" or a.dtype.kind == "f" and np.isnan(a).any():
        u, inv = np.unique(a, axis=0, return_inverse=True)
        return u, np.ravel(inv)
    if a.dtype.kind == "f":
        a = np.ascontiguousarray(a + 0.0)  # -0.0 -> 0.0 (as == has them): equal rows, bytes
        if a.shape[1] > 1:  # hashed as they are; only the distinct rows ordered
            firsts, inv = _by_dict(a.view(np.uint8).reshape(a.shape[0], -1), a)
            return a[firsts], inv
    b = _ordered_bytes(a)
    assert b is not None
    firsts, inv = _by_code(b) if b.shape[1] <= 8 else _by_dict(b, a)
    return a[firsts], inv


def _by_code(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of up to 8 bytes as one uint64 each, for numpy's 1-d unique: (first row of each
    distinct one, in order; each row's index)."""
    codes = np.ascontiguousarray(np.pad(b, ((0, 0), (0, 8 - b.shape[1])))).view(">u8")
    _, firsts, inv = np.unique(codes.ravel(), return_index=True, return_inverse=True)
    return firsts, np.ravel(inv)


def _by_dict(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `a` told apart by their bytes in `b` (equal exactly when the rows are) in a
    dict, then the distinct ones sorted by their ordered bytes: (first row of each distinct
    one, in order; each row's index)."""
    buf, width = b.tobytes(), b.shape[1]
    labels: dict[bytes, int] = {}
    seen = np.fromiter(
        (labels.setdefault(buf[i * width : (i + 1) * width], len(labels)) for i in range(len(b))),
        dtype=np.intp,
        count=len(b),
    )
    firsts = np.unique(seen, return_index=True)[1]  # label j first appears at firsts[j]
    ordered = _ordered_bytes(a[firsts])
    assert ordered is not None
    obuf, ow = ordered.tobytes(), ordered.shape[1]
    rank = sorted(range(len(firsts)), key=lambda j: obuf[j * ow : (j + 1) * ow])
    pos = np.empty(len(firsts), dtype=np.intp)
    pos[rank] = np.arange(len(firsts))
    return firsts[rank], pos[seen]


def unique_cols(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`unique_rows` of the columns: (distinct columns in order, each column's index)."""
    rows, inv = unique_rows(np.asarray(a).T)
    return rows.T, inv


def distinct_cols(a: np.ndarray) -> np.ndarray:
    """The distinct columns of `a` in the order they first occur (no sort: for a caller that
    takes them as a set, such as every vector a read-out can take)."""
    a = np.asarray(a)
    rows = np.ascontiguousarray(a.T + 0.0 if a.dtype.kind == "f" else a.T)
    if rows.size == 0 or a.dtype.kind not in "biuf" or a.dtype.kind == "f" and np.isnan(a).any():
        return unique_cols(a)[0]
    buf, width = rows.tobytes(), rows.nbytes // rows.shape[0]
    firsts: dict[bytes, int] = {}
    for i in range(rows.shape[0]):
        firsts.setdefault(buf[i * width : (i + 1) * width], i)
    return rows[list(firsts.values())].T
