"""Perplexity against hand computations; the n-gram baseline; exact match of greedy decoding."""

import math

import pytest
import torch

from lm.data import EOS, Example, SequenceBatch, Tokenizer
from lm.perplexity import NLL, NGram, exact_match, model_perplexity
from runtime import LayerConfig, Transformer, TransformerConfig

TOK = Tokenizer.build(["a", "b"], outputs=[1, 2])
EXAMPLES = [
    Example(["a"], [1]),
    Example(["a", "b"], [1, 1]),
    Example(["b", "b", "a"], [2, 2, 1]),
]


def _tiny_model() -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=TOK.size,
        max_seq_len=12,
        d_model=8,
        layers=[LayerConfig(2, 4, 16)],
        causal=True,
        norm="layernorm",
    )
    model = Transformer(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)  # far from uniform, so the check is not trivial
    return model.eval()


@torch.no_grad()
def test_model_perplexity_equals_hand_computation():
    model = _tiny_model()
    out_total = seq_total = 0.0
    out_count = seq_count = 0
    for e in EXAMPLES:
        ids = TOK.encode(e.input, e.output)
        sep = len(e.input) + 1
        for t in range(1, len(ids)):  # predict ids[t] from ids[:t], one unbatched prefix at a time
            logp = torch.log_softmax(model(torch.tensor([ids[:t]]))[0, -1].double(), dim=-1)
            nll = -float(logp[ids[t]])
            seq_total, seq_count = seq_total + nll, seq_count + 1
            if t > sep:
                out_total, out_count = out_total + nll, out_count + 1
    got = model_perplexity(model, SequenceBatch.from_examples(EXAMPLES, TOK), batch_size=2)
    assert got.outputs.count == out_count == sum(len(e.output) + 1 for e in EXAMPLES)
    assert got.sequence.count == seq_count
    assert got.outputs.perplexity == pytest.approx(math.exp(out_total / out_count), rel=1e-5)
    assert got.sequence.perplexity == pytest.approx(math.exp(seq_total / seq_count), rel=1e-5)
    assert got.outputs.bits_per_token == pytest.approx(out_total / out_count / math.log(2), 1e-5)
    d = got.as_dict("val_")
    assert d["val_output_excess_ppl"] == pytest.approx(d["val_output_ppl"] - 1)


def test_nll_arithmetic():
    total = NLL(2.0, 4) + NLL(1.0, 2)
    assert total.mean == 0.5 and total.perplexity == pytest.approx(math.exp(0.5))
    assert NLL(0.0, 7).perplexity == 1.0  # the floor for a deterministic program's outputs


def test_bigram_matches_counts():
    batch = SequenceBatch.from_examples(EXAMPLES, TOK)
    k = 0.5
    model = NGram(2, TOK.size, k=k).fit(batch)
    ppl = model.perplexity(batch)
    # Hand counts over the training targets: next token after each token.
    pairs = []
    for e in EXAMPLES:
        ids = TOK.encode(e.input, e.output)
        pairs += list(zip(ids[:-1], ids[1:], strict=True))
    support = TOK.size - 1
    total = 0.0
    for prev, nxt in pairs:
        joint = sum(1 for p, n in pairs if (p, n) == (prev, nxt))
        ctx = sum(1 for p, _ in pairs if p == prev)
        total -= math.log((joint + k) / (ctx + k * support))
    assert ppl.sequence.count == len(pairs)
    assert ppl.sequence.perplexity == pytest.approx(math.exp(total / len(pairs)), rel=1e-9)


def test_ngram_orders_and_unseen_contexts():
    batch = SequenceBatch.from_examples(EXAMPLES, TOK)
    unigram = NGram(1, TOK.size).fit(batch).perplexity(batch).sequence.perplexity
    trigram = NGram(3, TOK.size).fit(batch).perplexity(batch).sequence.perplexity
    assert trigram < unigram  # more context fits the training data better
    unseen = SequenceBatch.from_examples([Example(["b", "a", "a", "a"], [2, 2, 2, 2])], TOK)
    assert math.isfinite(NGram(3, TOK.size).fit(batch).perplexity(unseen).outputs.perplexity)


class _Oracle(torch.nn.Module):
    """Answers with a fixed table of outputs, wrong on inputs starting with 'b'."""

    def generate(self, idx, max_new_tokens, greedy=True):
        rows = []
        for prompt in idx.tolist():
            values = TOK.decode(prompt[1:-1])
            answer = [TOK.id(1 if v == "a" else 2) for v in values] + [EOS]
            if values[0] == "b":
                answer[0] = TOK.id("a")
            rows.append(prompt + answer[:max_new_tokens])
        return torch.tensor(rows)


def test_exact_match_counts_whole_outputs():
    examples = [Example(x, [1 if v == "a" else 2 for v in x]) for x in (["a"], ["a", "b"], ["b"])]
    assert exact_match(_Oracle(), examples, TOK) == pytest.approx(2 / 3)
    assert math.isnan(exact_match(_Oracle(), [], TOK))
