"""`Transformer.attention_weights`: each layer's softmax weights, as its heads apply them.

Checked against the weights recomputed by hand from each attention layer's input (taken with a
forward hook), with and without a causal mask and with padding; the weights must also be what
the layer's output is made of (weights @ values, projected, equals the layer's output)."""

from __future__ import annotations

import pytest
import torch

from runtime import LayerConfig, Transformer, TransformerConfig


def _model(causal: bool) -> Transformer:
    torch.manual_seed(0)
    layers = [LayerConfig(2, 8, 32), LayerConfig(0, 0, 16), LayerConfig(3, 4, 0)]
    config = TransformerConfig(
        vocab_size=7, max_seq_len=9, d_model=16, layers=layers, causal=causal, attn_impl="math"
    )
    return Transformer(config).eval()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_weights_are_what_each_layer_applies(causal, padded):
    model = _model(causal)
    idx = torch.randint(0, 7, (3, 6), generator=torch.Generator().manual_seed(1))
    pad = torch.zeros_like(idx, dtype=torch.bool)
    if padded:
        pad[0, 4:] = True
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [
        b.attn.register_forward_hook(lambda _m, args, out: seen.append((args[0], out)))
        for b in model.blocks
        if b.attn is not None
    ]
    with torch.no_grad():
        model(idx, pad_mask=pad if padded else None)
        for h in hooks:
            h.remove()
        weights = model.attention_weights(idx, pad if padded else None)
    assert [w is None for w in weights] == [False, True, False]
    attns = [b.attn for b in model.blocks if b.attn is not None]
    for attn, w, (x, out) in zip(attns, [w for w in weights if w is not None], seen, strict=True):
        B, T, _ = x.shape
        assert w.shape == (B, attn.n_heads, T, T)
        q, k, v = attn.qkv(x).view(B, T, 3, attn.n_heads, attn.d_head).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * attn.scale
        allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
        if causal:
            allowed &= torch.ones(T, T, dtype=torch.bool).tril()
        if padded:
            allowed &= ~pad[:, None, None, :]
        want = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        real = ~pad  # queries at padding are meaningless
        by_query, want_by_query = w.transpose(1, 2)[real], want.transpose(1, 2)[real]
        assert torch.allclose(by_query, want_by_query, atol=1e-6)
        assert torch.allclose(by_query.sum(-1), torch.ones(()), atol=1e-6)
        y = (w @ v).transpose(1, 2).reshape(B, T, -1)
        assert torch.allclose(attn.proj(y)[real], out[real], atol=1e-5)


def test_too_long_an_input_is_refused():
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        _model(False).attention_weights(torch.zeros(1, 10, dtype=torch.long))
