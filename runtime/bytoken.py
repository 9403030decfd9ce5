"""Attention over token classes, for heads whose keys are a function of the token alone.

Keys holding the same token have the same vector, hence the same score for any query: softmax
over keys is softmax over the vocabulary weighted by how often each token occurs (n_c), and
values sum per token before they are weighted. With m the largest score among the tokens that
occur (softmax's own max):

    out = sum_c e^(s_c - m) * (sum of v_j over keys j holding c) / sum_c e^(s_c - m) * n_c

O(T * vocab) per sequence instead of O(T^2); exact up to the order of float additions.
`FastForward` uses it per head (`attend_by_token`) and, where no layer reads a position, for a
whole model run on one row per vocabulary entry (`attend_rows`, with `occurrences`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from runtime import prune

# ln of the smallest normal number of each float type: e^x below it is subnormal.
_UNDERFLOW = {
    t: math.log(torch.finfo(t).tiny)
    for t in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
}


def token_counts(
    idx: torch.Tensor, lengths: torch.Tensor | None, vocab: int, dtype: torch.dtype, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(one-hot tokens [B,T,V], zero on padding; how often each token occurs among the keys a
    query sees: [B,1,V], or [B,T,V] when causal)."""
    onehot = F.one_hot(idx, vocab).to(dtype)
    if lengths is not None:
        T = idx.shape[1]
        onehot *= (torch.arange(T, device=idx.device)[None, :] < lengths[:, None])[..., None]
    if causal:
        return onehot, onehot.cumsum(dim=1)
    return onehot, onehot.sum(dim=1, keepdim=True)


def occurrences(
    idx: torch.Tensor, lengths: torch.Tensor | None, vocab: int, dtype: torch.dtype
) -> torch.Tensor:
    """How often each token occurs in each sequence, padding left out: [B,1,V] (one bincount)."""
    B, T = idx.shape
    if lengths is not None:  # padding counts as an extra token V, dropped below
        idx = idx.masked_fill(
            torch.arange(T, device=idx.device)[None, :] >= lengths[:, None], vocab
        )
    flat = (idx + torch.arange(B, device=idx.device)[:, None] * (vocab + 1)).view(-1)
    n = torch.bincount(flat, minlength=B * (vocab + 1)).view(B, 1, vocab + 1)
    return n[..., :vocab].to(dtype)


def _weights(scores: torch.Tensor, scale: float, n: torch.Tensor) -> torch.Tensor:
    """e^(s_c - m) for scores [..., V]: tokens that do not occur get 0, m is over those that do.

    Differences below ln(smallest normal float) are set to -inf first: their e^x is
    subnormal, flushed to 0 on the CPU forward anyway (`flush_denormals`), but computing it
    takes exp 10-30x longer per element (hist@64's one head: 460 of 1,300 us a batch)."""
    if scale != 1.0:
        scores *= scale
    scores.masked_fill_(n == 0, float("-inf"))
    scores -= scores.amax(dim=-1, keepdim=True)
    return scores.masked_fill_(scores < _UNDERFLOW[scores.dtype], float("-inf")).exp_()


def attend_by_token(
    h: prune.Head,
    scale: float,
    y: torch.Tensor,
    counts: tuple[torch.Tensor, torch.Tensor],
    causal: bool,
) -> torch.Tensor:
    """Head h's output [B,T,dv] from the fused q/v projections y [B,T,width] (its keys are the
    table h.keys [V,dk]) and `token_counts`."""
    onehot, n = counts
    assert h.keys is not None
    e = _weights(F.linear(y[..., h.q], h.keys), scale, n)  # [B,T,V]
    v = y[..., h.v]  # [B,T,dv]
    if causal:  # per query, the sums over keys up to it
        sums = (onehot[..., None] * v[:, :, None, :]).cumsum(dim=1)  # [B,T,V,dv]
        out = (e[..., None] * sums).sum(dim=2)
    else:
        out = e @ (onehot.transpose(1, 2) @ v)  # [B,T,V] @ [B,V,dv]
    return out / (e * n).sum(dim=-1, keepdim=True)


def attend_rows(
    a: prune.Attention, x: torch.Tensor, n: torch.Tensor, B: int, V: int
) -> torch.Tensor:
    """Layer a's output [B*V, written] for the rows x [B*V, read] of a model run once per
    vocabulary entry (row c of sequence b stands for its positions holding token c; every
    key of token c is row c, counted n[b, 0, c] times)."""
    y = F.linear(x, a.w, a.b).view(B, V, -1)  # [B,V,width]
    outs = []
    for h in a.heads:
        keys = h.keys if h.keys is not None else y[..., h.k]
        e = _weights(y[..., h.q] @ keys.transpose(-2, -1), a.scale, n).mul_(n)  # [B,V,V]
        outs.append((e @ y[..., h.v]) / e.sum(dim=-1, keepdim=True))
    z = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
    return F.linear(z.view(B * V, -1), a.o, a.o_bias)
