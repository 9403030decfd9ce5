"""Many sequences through a `FastForward`, in chunks: right-padded token ids [N, T] in, numpy
outputs out, in input order (`run_padded`; for a position-free model also one row per
vocabulary entry, `run_token_logits`)."""

from __future__ import annotations

import numpy as np
import torch

from runtime.fast import FastForward

# Tokens per forward call: on a CPU, about what keeps a chunk's activations in cache
# (measured: 8k tokens ran sort@32 and hist@64 1.3-1.5x faster than 64k); on a GPU, enough
# to fill it while one head's scores (rows x T x T) stay under GPU_SCORES numbers.
CPU_TOKENS = 8192
GPU_SCORES = 1 << 28


def default_rows(fast: FastForward, length: int) -> int:
    """Sequences per forward call for padded length `length` (see CPU_TOKENS, GPU_SCORES); a
    position-free model runs vocabulary rows, not positions (as many as `length` would be)."""
    if fast.position_free and len(fast.tok) < length:
        length = len(fast.tok)
    if fast.device.type == "cpu":
        return max(1, CPU_TOKENS // length)
    return max(1, GPU_SCORES // (length * length))


def run_padded(
    fast: FastForward,
    tokens: np.ndarray,
    lengths: np.ndarray,
    output: str = "logits",
    rows: int | None = None,
    columns: slice | None = None,
) -> np.ndarray:
    """Run right-padded token ids [N, T] (padding too must be valid ids) with `lengths` real
    tokens each, in chunks; returns outputs [N, T, W] (W = d_out, d_model for 'residual', or
    the `columns` kept) as a numpy array of the model's dtype, in input order; positions past
    a sequence's length hold nothing meaningful.

    Sequences are sorted by length once and cut into chunks of at most `rows`, so that a
    chunk pads only to its own longest sequence (length buckets) and one of equal lengths
    needs no mask at all."""
    _check(fast, tokens, lengths)
    N, T = tokens.shape
    width = fast.config.d_model if output == "residual" else fast.unembed.shape[0]
    if columns is not None:
        width = len(range(width)[columns])
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    same_order = bool((order == np.arange(N)).all())
    ids = torch.from_numpy(
        np.ascontiguousarray(tokens if same_order else tokens[order], dtype=np.int64)
    ).to(fast.device)
    lens = torch.from_numpy(np.ascontiguousarray(sorted_lengths, dtype=np.int64)).to(fast.device)
    out = np.empty((N, T, width), dtype=_numpy_dtype(fast))
    size = rows or default_rows(fast, T)
    for start in range(0, N, size):
        end = min(N, start + size)
        n = int(sorted_lengths[end - 1])
        y = fast(ids[start:end, :n], lens[start:end], output, columns)
        out[start:end, :n] = y.cpu().numpy()
    if same_order:
        return out
    unsorted = np.empty_like(out)
    unsorted[order] = out
    return unsorted


def run_token_logits(
    fast: FastForward, tokens: np.ndarray, lengths: np.ndarray, columns: slice | None = None
) -> np.ndarray:
    """For a position-free model (`fast.position_free`), the logits [N, V, W] of each
    vocabulary entry in each right-padded sequence of ids [N, T] (see `token_logits`): what
    every position holding that token has. Decoding V entries per sequence instead of T and
    gathering the decoded values by token costs less than decoding every position."""
    _check(fast, tokens, lengths)
    N, V = len(tokens), fast.tok.shape[0]
    width = len(range(fast.unembed.shape[0])[columns or slice(None)])
    out = np.empty((N, V, width), dtype=_numpy_dtype(fast))
    ids = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64)).to(fast.device)
    lens = None  # no padding to leave out of the counts, known here without a device sync
    if N and lengths.min() < tokens.shape[1]:
        lens = torch.from_numpy(np.ascontiguousarray(lengths, dtype=np.int64)).to(fast.device)
    size = default_rows(fast, V)
    for start in range(0, N, size):
        part = None if lens is None else lens[start : start + size]
        y = fast.token_logits(ids[start : start + size], part, columns)
        out[start : start + size] = y.cpu().numpy()
    return out


def _check(fast: FastForward, tokens: np.ndarray, lengths: np.ndarray) -> None:
    """Ids [N, T] with one length (1..T) per row, every id in the vocabulary: a ValueError
    saying which is not."""
    if tokens.ndim != 2 or len(lengths) != len(tokens):
        raise ValueError("tokens must be [N, T] with one length per row")
    N, T = tokens.shape
    if N and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError("every length must be between 1 and the padded width")
    vocab = fast.tok.shape[0]
    if N and (tokens.min() < 0 or tokens.max() >= vocab):
        row, col = np.argwhere((tokens < 0) | (tokens >= vocab))[0]
        raise ValueError(
            f"sequence {row} has token id {tokens[row, col]} at position {col}, "
            f"outside the vocabulary [0, {vocab})"
        )


def _numpy_dtype(fast: FastForward) -> type[np.floating]:
    return np.float64 if fast.dtype == torch.float64 else np.float32
