"""Small random `runtime.Transformer`s shared by the runtime's test modules."""

from __future__ import annotations

import torch

from runtime import LayerConfig, Transformer, TransformerConfig


def make_model(
    causal: bool = True,
    norm: str = "none",
    activation: str = "relu",
    attn_scale: float | None = None,
    bias: bool = True,
    vocab: int = 13,
    max_len: int = 24,
    seed: int = 0,
    **kw,
) -> Transformer:
    torch.manual_seed(seed)
    layers = kw.pop(
        "layers",
        [
            LayerConfig(4, 8, 48),
            LayerConfig(0, 0, 32),
            LayerConfig(2, 16, 0),
            LayerConfig(3, 4, 16),
        ],
    )
    config = TransformerConfig(
        vocab_size=vocab,
        max_seq_len=max_len,
        d_model=32,
        layers=layers,
        activation=activation,
        norm=norm,
        causal=causal,
        attn_scale=attn_scale,
        bias=bias,
        **kw,
    )
    return Transformer(config).eval()


def tokens(B: int, T: int, vocab: int = 13, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))
