"""runtime.Transformer.generate: cached generation equals uncached, sampling, cropping,
padded prompts, stopping at EOS."""

from __future__ import annotations

import pytest
import torch
from runtime_models import make_model, tokens

from runtime.model import KVCache

pytestmark = pytest.mark.usefixtures("one_thread")


# --- generation -------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["none", "layernorm"])
def test_generation_with_cache_equals_without(norm):
    model = make_model(norm=norm)
    prompt = tokens(3, 5)
    cached = model.generate(prompt, 12, greedy=True)
    plain = model.generate(prompt, 12, greedy=True, use_cache=False)
    assert cached.shape == (3, 17) and torch.equal(cached, plain)
    assert torch.equal(cached[:, :5], prompt)


def test_sampled_generation_with_cache_equals_without():
    model = make_model()
    prompt = tokens(4, 3)
    kw = {"temperature": 0.8, "top_k": 5}
    cached = model.generate(prompt, 10, generator=torch.Generator().manual_seed(7), **kw)
    plain = model.generate(
        prompt, 10, use_cache=False, generator=torch.Generator().manual_seed(7), **kw
    )
    assert torch.equal(cached, plain)


def test_top_k_one_is_greedy():
    model = make_model()
    prompt = tokens(2, 4)
    assert torch.equal(model.generate(prompt, 6, top_k=1), model.generate(prompt, 6, greedy=True))


def test_generation_past_max_seq_len_crops_the_context():
    model = make_model(max_len=8)
    prompt = tokens(2, 6)
    cached = model.generate(prompt, 10, greedy=True)
    plain = model.generate(prompt, 10, greedy=True, use_cache=False)
    assert cached.shape == (2, 16) and torch.equal(cached, plain)


def test_left_padded_prompts_generate_as_if_alone():
    model = make_model(norm="layernorm")
    prompts = [tokens(1, n, seed=20 + n)[0] for n in (6, 2, 4)]
    idx = torch.zeros(3, 6, dtype=torch.long)
    pad = torch.ones(3, 6, dtype=torch.bool)
    for i, p in enumerate(prompts):
        idx[i, 6 - len(p) :] = p
        pad[i, 6 - len(p) :] = False
    for use_cache in (True, False):
        out = model.generate(idx, 8, greedy=True, pad_mask=pad, use_cache=use_cache)
        for i, p in enumerate(prompts):
            alone = model.generate(p[None], 8, greedy=True)
            assert torch.equal(out[i, 6:], alone[0, len(p) :])


def test_generation_stops_when_every_row_has_emitted_eos():
    model = make_model()
    prompt = tokens(2, 3)
    free = model.generate(prompt, 15, greedy=True)
    eos = int(free[0, 3])  # row 0 emits this first
    out = model.generate(prompt, 15, greedy=True, eos_token=eos)
    first = [int((row[3:] == eos).nonzero()[0]) if (row[3:] == eos).any() else None for row in free]
    if all(f is not None for f in first):
        assert out.shape[1] == 3 + max(first) + 1
    for row, f in zip(out, first, strict=True):
        if f is not None:
            assert (row[3 + f :] == eos).all()


def test_bidirectional_generation_recomputes_every_step():
    model = make_model(causal=False)
    prompt = tokens(2, 4)
    assert torch.equal(
        model.generate(prompt, 5, greedy=True),
        model.generate(prompt, 5, greedy=True, use_cache=False),
    )
    with pytest.raises(ValueError, match="causal"):
        model.residual(prompt, cache=KVCache(model.config, 2, prompt.device, torch.float32))


def test_generation_needs_a_vocabulary_unembedding():
    with pytest.raises(ValueError, match="d_out"):
        make_model(d_out=3).generate(tokens(1, 2), 2)
    with pytest.raises(ValueError, match="temperature"):
        make_model().generate(tokens(1, 2), 2, temperature=0.0)
