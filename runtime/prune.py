"""The weights `FastForward` keeps of a `Transformer`, and which heads attend by token class.

A compiled model's layers hold heads of very different widths padded to the widest, dimensions
whose query or key weights are all zero, MLP units whose output column is zero, and sublayers
that are empty. These builders drop exactly those (a dropped term would add an exact 0.0 to a
sum): each head keeps its own width, and all heads of a layer share one fused q/k/v GEMM.

A head whose keys read only residual columns that still hold the token embedding (no position
embedding there, no earlier sublayer wrote them) has one key per vocabulary entry: its `keys`
table [vocab, dk] replaces the key GEMM, and attention runs over token classes weighted by how
often each occurs (see `FastForward`), O(T * vocab) per sequence instead of O(T^2). Compiled
histograms (`select(tokens, tokens, ==)`) and every length count (`select(..., true)`) are such
heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from runtime.attention import Attention as AttentionLayer
from runtime.model import MLP


@dataclass
class Head:
    q: slice  # its columns in the fused q/k/v output
    k: slice  # (empty for a head with a key table)
    v: slice
    keys: torch.Tensor | None  # [vocab, dk]: its key for each token, when keys read only tokens


@dataclass
class Attention:
    w: torch.Tensor  # [width, read]: every head's kept q rows, then k rows, then v rows
    b: torch.Tensor | None
    heads: list[Head]
    o: torch.Tensor  # [written, sum of value widths]
    o_bias: torch.Tensor | None
    scale: float
    read: int | torch.Tensor  # it reads residual columns [0, read), or these (see reads)
    write: slice  # and writes these
    # Where it reads only embedding columns: its q/k/v per token [V, width] and per position
    # [P, width] (no bias), so that two lookups replace the GEMM (see `embedding_tables`).
    tok_table: torch.Tensor | None = None
    pos_table: torch.Tensor | None = None


def embedding_tables(a: Attention, tok: torch.Tensor, pos: torch.Tensor | None) -> None:
    """Fill a's tables: the residual it reads is tok[token] + pos[position], so its q/k/v
    projection is W tok[token] + b + W pos[position] (sort@32's first layer: 81 outputs of
    39 inputs per token, a GEMM 7x slower than the two lookups)."""
    a.tok_table = F.linear(_take(tok, a.read), a.w, a.b)
    a.pos_table = None if pos is None else F.linear(_take(pos, a.read), a.w)


def _take(rows: torch.Tensor, read: int | torch.Tensor) -> torch.Tensor:
    return rows[:, :read] if isinstance(read, int) else rows[:, read]


@dataclass
class Mlp:
    fc: torch.Tensor  # [kept units, read]
    fc_bias: torch.Tensor | None
    proj: torch.Tensor  # [written, kept units]
    proj_bias: torch.Tensor | None
    gelu: bool
    read: int | torch.Tensor
    write: slice


def reads(w: torch.Tensor) -> tuple[int | torch.Tensor, torch.Tensor]:
    """The residual columns that weights w [out, D] read, and w cut to them: the leading
    columns up to the last one read, or, when at most half of those are read (a compiled
    MLP reads 3-4 of 40-80), just those (gathered: a narrow copy beats a wide GEMM)."""
    cols = torch.nonzero(w.ne(0).any(dim=0))[:, 0]
    prefix = int(cols.max()) + 1 if len(cols) else 0
    if len(cols) <= prefix // 2:
        return cols, w[:, cols].contiguous()
    return prefix, w[:, :prefix].contiguous()


def read_columns(w: torch.Tensor, read: int | torch.Tensor) -> torch.Tensor:
    """The residual columns that weights w [out, read] (cut by `reads`) really read."""
    cols = torch.nonzero(w.ne(0).any(dim=0))[:, 0]
    return cols if isinstance(read, int) else read[cols]


def _writes(o: torch.Tensor, b: torch.Tensor | None) -> slice:
    """The residual rows an output projection o [D, in] with bias b writes (first to last
    nonzero; empty when it writes nothing)."""
    rows = torch.nonzero(_nonzero(o, b))
    return slice(int(rows.min()), int(rows.max()) + 1) if len(rows) else slice(0, 0)


def _nonzero(first: torch.Tensor, *rest: torch.Tensor | None) -> torch.Tensor:
    """Rows where any of the given row-aligned tensors (2-d weights or 1-d biases) is nonzero."""
    keep = first.ne(0).any(dim=1)
    for p in rest:
        if p is not None:
            keep = keep | (p.ne(0).any(dim=1) if p.dim() == 2 else p.ne(0))
    return keep


def bias(b: torch.Tensor | None) -> torch.Tensor | None:
    """None for an absent or all-zero bias (adding it would change nothing)."""
    return None if b is None or not bool(b.ne(0).any()) else b


def attention(
    layer: AttentionLayer, tok: torch.Tensor, token_cols: torch.Tensor
) -> Attention | None:
    """The kept weights of one attention layer (None if it adds exactly nothing).
    `token_cols` [D] marks the residual columns that still hold tok [vocab, D]."""
    w_rows: dict[str, list[torch.Tensor]] = {"q": [], "k": [], "v": []}
    b_rows: dict[str, list[torch.Tensor]] = {"q": [], "k": [], "v": []}
    widths, tables, o_cols = [], [], []
    has_bias = layer.qkv.bias is not None
    for h in range(layer.n_heads):
        hw = layer.head(h)
        qb, kb, vb = (hw.q_bias, hw.k_bias, hw.v_bias) if has_bias else (None, None, None)
        # A q.k term is zero when either side is; a value dimension counts only if its output
        # column and its value are nonzero.
        qk = _nonzero(hw.q, qb) & _nonzero(hw.k, kb)
        v = _nonzero(hw.v, vb) & hw.o.ne(0).any(dim=0)
        if not bool(v.any()):
            continue  # the head adds exactly nothing
        k, k_bias = hw.k[qk], None if kb is None else kb[qk]
        by_token = bool(token_cols[k.ne(0).any(dim=0)].all())
        tables.append(torch.nn.functional.linear(tok, k, k_bias) if by_token else None)
        parts = [("q", hw.q, qb, qk), ("v", hw.v, vb, v)]
        if not by_token:
            parts.append(("k", hw.k, kb, qk))
        for name, w, b, keep in parts:
            w_rows[name].append(w[keep])
            if b is not None:
                b_rows[name].append(b[keep])
        o_cols.append(hw.o[:, v])
        widths.append((int(qk.sum()), 0 if by_token else int(qk.sum()), int(v.sum())))
    proj_bias = bias(layer.proj.bias)
    o = torch.cat(o_cols, dim=1) if o_cols else layer.proj.weight[:, :0]
    write = _writes(o, proj_bias)
    if write.stop == write.start:
        return None
    o = o[write].contiguous()
    o_bias = None if proj_bias is None else proj_bias[write]
    if not widths:  # only a constant bias
        return Attention(o[:, :0], None, [], o, o_bias, 1.0, 0, write)
    read, w = reads(torch.cat(w_rows["q"] + w_rows["k"] + w_rows["v"]))
    b = torch.cat(b_rows["q"] + b_rows["k"] + b_rows["v"]) if has_bias else None
    n_q, n_k = sum(dq for dq, _, _ in widths), sum(dk for _, dk, _ in widths)
    heads, q0, k0, v0 = [], 0, n_q, n_q + n_k
    for (dq, dk, dv), table in zip(widths, tables, strict=True):
        heads.append(Head(slice(q0, q0 + dq), slice(k0, k0 + dk), slice(v0, v0 + dv), table))
        q0, k0, v0 = q0 + dq, k0 + dk, v0 + dv
    return Attention(w, bias(b), heads, o, o_bias, layer.scale, read, write)


def mlp(layer: MLP, gelu: bool) -> Mlp | None:
    """The kept units of one MLP (None if it adds exactly nothing)."""
    fc, proj = layer.fc, layer.proj
    fb = fc.bias
    keep = proj.weight.ne(0).any(dim=0) & _nonzero(fc.weight, fb)
    proj_bias = bias(proj.bias)
    write = _writes(proj.weight[:, keep], proj_bias)
    if write.stop == write.start:
        return None
    read, w = reads(fc.weight[keep])
    return Mlp(
        w,
        None if fb is None else bias(fb[keep]),
        proj.weight[write][:, keep].contiguous(),
        None if proj_bias is None else proj_bias[write],
        gelu,
        read,
        write,
    )
