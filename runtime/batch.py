"""Batched inference over many token sequences of mixed lengths (compiled programs).

Running sequences one by one wastes the device; a ragged batch either groups equal lengths (no
padding at all, so results are exactly those of single-sequence runs) or pads to the longest
sequence in a chunk with a padding mask (fewer, larger calls when lengths are spread out).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from runtime.device import exact_fp32, pick_device
from runtime.model import Transformer

OUTPUTS = ("logits", "residual")
STRATEGIES = ("group", "pad")


def _chunks(items: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def forward_batched(model: Transformer, sequences: Sequence[Sequence[int]],
                    batch_size: int = 4096, device: str | torch.device | None = None,
                    output: str = "logits", strategy: str = "group",
                    attn_impl: str | None = None) -> list[torch.Tensor]:
    """Run every sequence through the model; returns one CPU tensor [len_i, W] per sequence, in
    input order: logits (W = d_out) or the final residual stream (W = d_model).

    strategy 'group' batches sequences of equal length together; 'pad' sorts by length and
    right-pads each chunk of `batch_size` sequences. float32 runs with TF32 off. `device` moves
    the model there (in place, like `nn.Module.to`); by default it runs where the model is.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, not {output!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    if device is not None:
        model.to(pick_device(device))
    dev = model.tok_emb.weight.device
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    _check_lengths(lengths, model.config.max_seq_len)
    order = np.argsort(lengths, kind="stable")
    results: list[torch.Tensor | None] = [None] * len(sequences)

    def run(chunk: np.ndarray, length: int, pad: bool) -> torch.Tensor:
        tokens = np.zeros((len(chunk), length), dtype=np.int64)
        for row, i in enumerate(chunk):
            tokens[row, :lengths[i]] = sequences[i]
        _check_tokens(tokens, chunk, lengths, model.config.vocab_size)
        idx = torch.from_numpy(tokens).to(dev)
        pad_mask = None
        if pad:
            pad_mask = torch.from_numpy(np.arange(length)[None, :] >= lengths[chunk][:, None])
            pad_mask = pad_mask.to(dev)
        logits, x = model(idx, pad_mask, return_residual=True, attn_impl=attn_impl)
        return (logits if output == "logits" else x).cpu()

    with torch.inference_mode(), exact_fp32():
        if strategy == "group":
            sorted_lengths = lengths[order]
            for length in np.unique(sorted_lengths):
                same = order[sorted_lengths == length]
                for chunk in _chunks(same, batch_size):
                    for i, out in zip(chunk, run(chunk, int(length), False).unbind(0),
                                      strict=True):
                        results[i] = out
        else:
            for chunk in _chunks(order, batch_size):
                out = run(chunk, int(lengths[chunk].max()), True)
                for row, i in enumerate(chunk):
                    results[i] = out[row, :lengths[i]]
    return results  # type: ignore[return-value]  # every slot is filled above


def _check_lengths(lengths: np.ndarray, max_seq_len: int) -> None:
    """Reject empty sequences and sequences longer than the model's positions."""
    for bad, why in ((lengths == 0, "is empty"), (lengths > max_seq_len, "is longer than "
                                                  f"max_seq_len {max_seq_len}")):
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"sequence {i} (length {lengths[i]}) {why}")


def _check_tokens(tokens: np.ndarray, chunk: np.ndarray, lengths: np.ndarray, vocab: int) -> None:
    """Reject token ids outside the vocabulary, naming the first offending sequence."""
    real = np.arange(tokens.shape[1])[None, :] < lengths[chunk][:, None]
    bad = ((tokens < 0) | (tokens >= vocab)) & real
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"sequence {chunk[row]} has token id {tokens[row, col]} at position "
                         f"{col}, outside the vocabulary [0, {vocab})")
