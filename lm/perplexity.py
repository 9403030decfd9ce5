"""Perplexity, bits per token and exact match, for trained models and an n-gram baseline.

Perplexity is `exp(total NLL / total scored tokens)`, reported apart over the output tokens
(everything after `SEP`, `EOS` included) and over whole sequences. A RASP program is
deterministic, so its outputs have entropy 0: the ideal output perplexity is 1 and the output
NLL itself is the excess over that floor. Whole sequences include the randomly sampled inputs,
whose entropy no model can remove.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lm.data import EOS, PAD, Example, SequenceBatch, Tokenizer


@dataclass
class NLL:
    """A sum of negative log-likelihoods (nats) over `count` scored tokens."""

    total: float
    count: int

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean)

    @property
    def bits_per_token(self) -> float:
        return self.mean / math.log(2)

    def __add__(self, other: NLL) -> NLL:
        return NLL(self.total + other.total, self.count + other.count)


@dataclass
class Perplexity:
    """NLL over output tokens and over whole sequences, kept apart."""

    outputs: NLL
    sequence: NLL

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}output_nll": self.outputs.mean,
            f"{prefix}output_ppl": self.outputs.perplexity,
            f"{prefix}output_bits": self.outputs.bits_per_token,
            # The floor is 0 nats (perplexity 1), so the excess is the NLL itself.
            f"{prefix}output_excess_ppl": self.outputs.perplexity - 1.0,
            f"{prefix}sequence_nll": self.sequence.mean,
            f"{prefix}sequence_ppl": self.sequence.perplexity,
            f"{prefix}sequence_bits": self.sequence.bits_per_token,
        }


def _split_nll(token_nll: torch.Tensor, batch: SequenceBatch) -> Perplexity:
    nll = token_nll.double()
    out, seq = batch.output_mask, batch.target_mask
    return Perplexity(
        NLL(float(nll[out].sum()), int(out.sum())), NLL(float(nll[seq].sum()), int(seq.sum()))
    )


@torch.no_grad()
def model_perplexity(
    model: torch.nn.Module,
    data: SequenceBatch,
    *,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> Perplexity:
    """Exact NLL sums of a causal model over `data` (in the model's precision, at least
    float32; padding never scored)."""
    model.eval()
    total = Perplexity(NLL(0.0, 0), NLL(0.0, 0))
    for start in range(0, len(data), batch_size):
        batch = data.select(torch.arange(start, min(start + batch_size, len(data))))
        logits = model(batch.inputs.to(device))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        token_nll = F.cross_entropy(
            logits.transpose(1, 2), batch.targets.to(device), reduction="none"
        ).cpu()
        part = _split_nll(token_nll, batch)
        total = Perplexity(total.outputs + part.outputs, total.sequence + part.sequence)
    return total


class NGram:
    """A Markov model of order `n` (context: the previous `n - 1` tokens) with add-`k`
    smoothing over the tokens that can be targets (everything but padding).

    The baseline the makemore tutorial starts from: it knows which tokens follow which, nothing
    about positions, so it cannot reverse a string but does learn the output's alphabet.
    """

    def __init__(self, n: int, vocab_size: int, k: float = 0.1):
        if n < 1:
            raise ValueError("an n-gram needs n >= 1")
        self.n, self.vocab_size, self.k = n, vocab_size, k
        self._keys = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._ctx_keys = np.zeros(0, dtype=np.int64)
        self._ctx_counts = np.zeros(0, dtype=np.int64)

    def _codes(self, batch: SequenceBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Context codes, targets and the masks, for every next-token target."""
        ids = batch.ids.numpy()
        width = ids.shape[1] - 1
        padded = np.concatenate([np.full((len(ids), self.n - 1), PAD), ids], axis=1)
        ctx = np.zeros((len(ids), width), dtype=np.int64)
        for back in range(self.n - 1, 0, -1):  # the token `back` places before the target
            ctx = ctx * self.vocab_size + padded[:, self.n - back : self.n - back + width]
        return ctx, ids[:, 1:].astype(np.int64), batch.target_mask.numpy()

    def fit(self, batch: SequenceBatch) -> NGram:
        ctx, tgt, mask = self._codes(batch)
        ctx, tgt = ctx[mask], tgt[mask]
        self._keys, self._counts = np.unique(ctx * self.vocab_size + tgt, return_counts=True)
        self._ctx_keys, self._ctx_counts = np.unique(ctx, return_counts=True)
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
        if not len(keys):
            return np.zeros(query.shape, dtype=np.int64)
        return np.where(keys[pos] == query, counts[pos], 0)

    def perplexity(self, batch: SequenceBatch) -> Perplexity:
        ctx, tgt, _ = self._codes(batch)
        joint = self._lookup(self._keys, self._counts, ctx * self.vocab_size + tgt)
        marginal = self._lookup(self._ctx_keys, self._ctx_counts, ctx)
        support = self.vocab_size - 1  # padding is never a target
        prob = (joint + self.k) / (marginal + self.k * support)
        return _split_nll(torch.from_numpy(-np.log(prob)), batch)


@torch.no_grad()
def exact_match(
    model: torch.nn.Module,
    examples: Sequence[Example],
    tokenizer: Tokenizer,
    *,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> float:
    """Fraction of examples whose greedy continuation of `BOS input SEP` is exactly
    `output EOS`. Prompts are batched by length, so no padding enters the model."""
    if not examples:
        return math.nan
    model.eval()
    by_length: dict[tuple[int, int], list[Example]] = defaultdict(list)
    for e in examples:
        by_length[len(e.input), len(e.output)].append(e)
    correct = 0
    for (n_in, n_out), group in by_length.items():
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            prompt = torch.tensor([tokenizer.encode(e.input) for e in chunk], device=device)
            want = torch.tensor([[*map(tokenizer.id, e.output), EOS] for e in chunk], device=device)
            got = model.generate(prompt, n_out + 1, greedy=True)[:, n_in + 2 :]
            correct += int((got == want).all(dim=1).sum())
    return correct / len(examples)
