"""The trained models: a uniform causal `runtime.Transformer` with a choice of positions.

`position` is how a token learns where it is: `learned` absolute embeddings (GPT-2; rows
past the training lengths are never trained, so longer inputs fail), `rope` (rotary
embeddings: queries and keys rotated by their position, so attention sees offsets only) or
`none` (NoPE: a causal model can still count the tokens before it). Rotary attention is a
subclass of the runtime's attention module with the same parameters, so checkpoints of every
kind hold the same tensor names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime import LayerConfig, Transformer, TransformerConfig
from runtime.attention import Attention, attention

POSITIONS = ("learned", "rope", "none")


@dataclass
class ModelConfig:
    """A uniform causal transformer: `n_layers` blocks of `n_heads` heads and an MLP."""

    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_mlp: int | None = None  # 4 * d_model when None
    norm: str = "layernorm"
    activation: str = "gelu"
    position: str = "learned"

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, not {self.position!r}")

    def transformer(self, vocab_size: int, max_seq_len: int) -> TransformerConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        d_head = self.d_model // self.n_heads
        if self.position == "rope" and d_head % 2:
            raise ValueError(f"rotary positions need an even head width, not {d_head}")
        return TransformerConfig(
            vocab_size=vocab_size,
            max_seq_len=max_seq_len,
            d_model=self.d_model,
            layers=[
                LayerConfig(self.n_heads, d_head, self.mlp_width) for _ in range(self.n_layers)
            ],
            activation=self.activation,
            norm=self.norm,
            causal=True,
            pos_embedding=self.position == "learned",
        )

    @property
    def mlp_width(self) -> int:
        return 4 * self.d_model if self.d_mlp is None else self.d_mlp


def build_model(config: TransformerConfig, position: str = "learned") -> Transformer:
    """A fresh transformer; with `rope`, every attention module rotates queries and keys."""
    model = Transformer(config)
    if position == "rope":
        for block in model.blocks:
            if block.attn is not None:
                block.attn.__class__ = RotaryAttention
    return model


def _rotate(x: torch.Tensor, start: int) -> torch.Tensor:
    """Rotary embedding of `x` `[B,H,T,Dh]` at positions `start..start+T` (pairs of
    dimensions `(i, i + Dh/2)` turn by `pos * 10000^(-2i/Dh)`)."""
    T, d = x.shape[-2], x.shape[-1]
    half = d // 2
    freq = 10000.0 ** (-torch.arange(half, device=x.device, dtype=torch.float64) / half)
    pos = torch.arange(start, start + T, device=x.device, dtype=torch.float64)
    angle = pos[:, None] * freq[None, :]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class RotaryAttention(Attention):
    """The runtime's attention with queries and keys rotated by position (RoPE). Positions
    count from the first token: prompts are never left-padded here."""

    def forward(self, x, mask, is_causal, impl, kv=None, start=0):
        B, T, _ = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        q, k = _rotate(q, start), _rotate(k, start)
        if kv is not None:
            k, v = kv.update(k, v, start)
        y = attention(q, k, v, mask, is_causal, self.scale, impl)
        return self.proj(y.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head))
