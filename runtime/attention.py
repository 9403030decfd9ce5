"""Multi-head attention with fused q/k/v projections, and its two implementations.

The weight layout (see `runtime.model`) is what a compiler fills directly: `Attention.head`
returns one head's slices as views. `attention` runs SDPA (flash or memory-efficient kernels
on CUDA) or the plain-matmul reference whose softmax weights `attention_weights` returns.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from runtime.kvcache import LayerKV


class HeadWeights(NamedTuple):
    """Views into one head's slices of the fused weights; write into them in place."""

    q: torch.Tensor  # [Dh, D]
    k: torch.Tensor  # [Dh, D]
    v: torch.Tensor  # [Dh, D]
    o: torch.Tensor  # [D, Dh]  (columns of proj.weight)
    q_bias: torch.Tensor | None  # [Dh]
    k_bias: torch.Tensor | None
    v_bias: torch.Tensor | None


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool,
    scale: float,
    impl: str,
) -> torch.Tensor:
    """softmax(scale * q k^T + mask) v for q [B,H,T,Dh], k, v [B,H,S,Dh] -> [B,H,T,Dh].

    `mask` [B,1,T,S] is True where a query may attend. 'sdpa' uses the fused kernels (flash or
    memory-efficient on CUDA); 'math' is the plain-matmul reference.
    """
    if impl == "sdpa":
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale
        )
    return attention_weights(q, k, mask, is_causal, scale) @ v


def attention_weights(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, scale: float
) -> torch.Tensor:
    """softmax(scale * q k^T + mask) [B,H,T,S]: the 'math' path's weights."""
    att = (q @ k.transpose(-2, -1)) * scale  # [B,H,T,S]
    if is_causal:
        T, S = att.shape[-2:]
        mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return att.softmax(dim=-1)


class Attention(nn.Module):
    """Multi-head attention with fused q/k/v projections (layout in the module docstring)."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, bias: bool, scale: float | None):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_head
        self.scale = 1.0 / math.sqrt(d_head) if scale is None else float(scale)
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head, bias=bias)
        self.proj = nn.Linear(n_heads * d_head, d_model, bias=bias)

    def head(self, h: int) -> HeadWeights:
        """Views of head h's query, key, value and output weights (for a compiler to fill)."""
        if not 0 <= h < self.n_heads:
            raise IndexError(f"head {h} out of range for {self.n_heads} heads")
        width = self.n_heads * self.d_head
        rows = [
            slice(part * width + h * self.d_head, part * width + (h + 1) * self.d_head)
            for part in range(3)
        ]
        w, b = self.qkv.weight.data, self.qkv.bias
        biases = [None] * 3 if b is None else [b.data[r] for r in rows]
        cols = slice(h * self.d_head, (h + 1) * self.d_head)
        return HeadWeights(
            w[rows[0]], w[rows[1]], w[rows[2]], self.proj.weight.data[:, cols], *biases
        )

    def weights(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool) -> torch.Tensor:
        """The softmax weights [B,H,T,T] each head gives each key (no KV cache)."""
        B, T, _ = x.shape
        q, k, _v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        return attention_weights(q, k, mask, is_causal, self.scale)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        is_causal: bool,
        impl: str,
        kv: LayerKV | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B,H,T,Dh]
        if kv is not None:
            k, v = kv.update(k, v, start)  # [B,H,S,Dh]
        y = attention(q, k, v, mask, is_causal, self.scale, impl)  # [B,H,T,Dh]
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head)
        return self.proj(y)  # [B,T,D]
