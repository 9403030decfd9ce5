"""Preallocated keys and values for incremental decoding with a causal `Transformer`."""

from __future__ import annotations

import torch

from runtime.config import TransformerConfig


class LayerKV:
    """Preallocated keys and values of one attention layer for incremental decoding."""

    def __init__(
        self,
        batch: int,
        n_heads: int,
        d_head: int,
        length: int,
        device: torch.device,
        dtype: torch.dtype,
    ):
        self.k = torch.zeros(batch, n_heads, length, d_head, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)

    def update(
        self, k: torch.Tensor, v: torch.Tensor, start: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v [B,H,T,Dh] at positions start..start+T; return all keys/values so far."""
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class KVCache:
    """Keys and values of every layer, plus which cached positions are real tokens."""

    def __init__(
        self, config: TransformerConfig, batch: int, device: torch.device, dtype: torch.dtype
    ):
        self.capacity = config.max_seq_len
        self.layers = [
            LayerKV(batch, ly.n_heads, ly.d_head, self.capacity, device, dtype)
            if ly.n_heads
            else None
            for ly in config.layers
        ]
        self.length = 0
        # Only kept once a padded input has been seen: key validity and real tokens per row.
        self.valid: torch.Tensor | None = None  # [B, capacity] bool
        self.n_valid: torch.Tensor | None = None  # [B] long
