"""runtime.Transformer: its config, its layout, attention paths agree, masks hide what they
must (generation: test_runtime_generate.py; devices: test_runtime_devices.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_models import make_model, tokens

from runtime import LayerConfig, Transformer, TransformerConfig
from runtime.device import exact_fp32

pytestmark = pytest.mark.usefixtures("one_thread")


# --- config -----------------------------------------------------------------------------------


def test_config_round_trips_through_dict():
    model = make_model(norm="rmsnorm", activation="gelu", attn_scale=50.0, d_out=7)
    data = model.config.to_dict()
    assert data["layers"][1] == {"n_heads": 0, "d_head": 0, "d_mlp": 32}
    assert TransformerConfig.from_dict(data) == model.config


@pytest.mark.parametrize(
    "bad",
    [
        {"vocab_size": 0},
        {"d_model": -1},
        {"norm": "batchnorm"},
        {"activation": "tanh"},
        {"attn_impl": "flash"},
        {"d_out": 0},
        {"layers": [{"n_heads": 2, "d_head": 0, "d_mlp": 4}]},
        {"layers": [{"n_heads": -1, "d_head": 4, "d_mlp": 4}]},
    ],
)
def test_config_rejects_bad_values(bad):
    base = {"vocab_size": 5, "max_seq_len": 8, "d_model": 16, "layers": []}
    with pytest.raises(ValueError):
        TransformerConfig.from_dict({**base, **bad})


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown"):
        TransformerConfig.from_dict(
            {"vocab_size": 5, "max_seq_len": 8, "d_model": 16, "n_layers": 2}
        )


# --- structure --------------------------------------------------------------------------------


def test_submodules_follow_the_documented_layout():
    model = make_model(d_out=5)
    D = 32
    assert model.tok_emb.weight.shape == (13, D) and model.pos_emb.weight.shape == (24, D)
    attn = model.blocks[0].attn
    assert attn.qkv.weight.shape == (3 * 4 * 8, D) and attn.proj.weight.shape == (D, 4 * 8)
    assert model.blocks[0].mlp.fc.weight.shape == (48, D)
    assert model.blocks[0].mlp.proj.weight.shape == (D, 48)
    assert model.blocks[1].attn is None and model.blocks[2].mlp is None
    assert isinstance(model.norm, torch.nn.Identity)
    assert model.unembed.weight.shape == (5, D)
    assert make_model(pos_embedding=False).pos_emb is None


def test_head_views_write_into_the_fused_weights():
    attn = make_model().blocks[0].attn  # 4 heads of width 8
    with torch.no_grad():
        attn.qkv.weight.zero_()
        attn.qkv.bias.zero_()
        attn.proj.weight.zero_()
        h = attn.head(2)
        h.q.fill_(1.0)
        h.k.fill_(2.0)
        h.v.fill_(3.0)
        h.o.fill_(4.0)
        h.v_bias.fill_(5.0)
    w = attn.qkv.weight
    width = 4 * 8
    assert (w[16:24] == 1).all() and (w[width + 16 : width + 24] == 2).all()
    assert (w[2 * width + 16 : 2 * width + 24] == 3).all()
    assert w.abs().sum() == 8 * 32 * (1 + 2 + 3)
    assert (attn.qkv.bias[2 * width + 16 : 2 * width + 24] == 5).all()
    assert (attn.proj.weight[:, 16:24] == 4).all() and attn.proj.weight.abs().sum() == 4 * 32 * 8
    with pytest.raises(IndexError):
        attn.head(4)


def test_head_views_of_a_model_without_bias():
    head = make_model(bias=False).blocks[0].attn.head(0)
    assert head.q_bias is None and head.k.shape == (8, 32)


def test_residual_is_what_the_unembedding_reads():
    model = make_model(norm="layernorm")
    idx = tokens(2, 9)
    logits, x = model(idx, return_residual=True)
    assert x.shape == (2, 9, 32) and logits.shape == (2, 9, 13)
    torch.testing.assert_close(logits, model.unembed(model.norm(x)))


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="max_seq_len"):
        make_model(max_len=8)(tokens(1, 9))


# --- attention paths --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    causal=st.booleans(),
    norm=st.sampled_from(["none", "layernorm", "rmsnorm"]),
    activation=st.sampled_from(["relu", "gelu"]),
    B=st.integers(1, 3),
    T=st.integers(1, 24),
    scale=st.sampled_from([None, 0.1, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_sdpa_equals_math(causal, norm, activation, B, T, scale, seed):
    model = make_model(causal=causal, norm=norm, activation=activation, attn_scale=scale, seed=seed)
    idx = tokens(B, T, seed=seed)
    with torch.no_grad():
        torch.testing.assert_close(
            model(idx, attn_impl="sdpa"), model(idx, attn_impl="math"), atol=1e-5, rtol=1e-5
        )


def test_sdpa_equals_math_with_padding():
    model = make_model(causal=False)
    idx = tokens(3, 12)
    pad = torch.zeros(3, 12, dtype=torch.bool)
    pad[0, 5:] = True
    pad[2, :4] = True
    with torch.no_grad():
        sdpa, math = model(idx, pad, attn_impl="sdpa"), model(idx, pad, attn_impl="math")
    torch.testing.assert_close(sdpa[~pad], math[~pad], atol=1e-5, rtol=1e-5)


def test_config_attn_impl_is_the_default_path():
    model = make_model(attn_impl="math")
    idx = tokens(2, 10)
    with torch.no_grad():
        torch.testing.assert_close(model(idx), model(idx, attn_impl="math"), atol=0, rtol=0)
    with pytest.raises(ValueError, match="attn_impl"):
        model(idx, attn_impl="flash")


def test_hard_attention_picks_the_best_key():
    """With a large scale the softmax is one-hot: a compiled head copies exactly one value."""
    config = TransformerConfig(
        vocab_size=4,
        max_seq_len=6,
        d_model=4,
        layers=[LayerConfig(1, 1, 0)],
        attn_scale=1000.0,
        bias=False,
    )
    model = Transformer(config)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.pos_emb.weight[:, 0] = torch.arange(6.0)  # dim 0: position
        model.tok_emb.weight[:, 1] = torch.arange(4.0)  # dim 1: token
        h = model.blocks[0].attn.head(0)
        h.q[0, 2] = 1.0  # query: the constant dim 2 (set below)
        h.k[0, 0] = 1.0  # key: position, so the last position wins
        h.v[0, 1] = 1.0  # value: the token
        h.o[3, 0] = 1.0  # write into dim 3
        model.tok_emb.weight[:, 2] = 1.0
    idx = torch.tensor([[3, 1, 2, 0, 2, 1]])
    for impl in ("sdpa", "math"):
        with torch.no_grad(), exact_fp32():
            _, x = model(idx, return_residual=True, attn_impl=impl)
        assert torch.equal(x[0, :, 3], torch.full((6,), 1.0))  # token at the last position


# --- masks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["sdpa", "math"])
def test_causal_masking_never_sees_the_future(impl):
    model = make_model(causal=True)
    idx = tokens(2, 16)
    with torch.no_grad():
        base = model(idx, attn_impl=impl)
        for p in range(16):
            changed = idx.clone()
            changed[:, p:] = (changed[:, p:] + 1 + p % 12) % 13  # perturb p and later
            out = model(changed, attn_impl=impl)
            torch.testing.assert_close(out[:, :p], base[:, :p], atol=1e-6, rtol=0)
            assert (out[:, p] - base[:, p]).abs().min() > 0  # position p itself changes


@pytest.mark.parametrize("impl", ["sdpa", "math"])
def test_bidirectional_model_sees_every_position(impl):
    model = make_model(causal=False)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.3)  # large enough weights that attention visibly mixes positions
    idx = tokens(1, 10)
    changed = idx.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 13
    with torch.no_grad():
        diff = (model(idx, attn_impl=impl) - model(changed, attn_impl=impl))[0, 0].abs().max()
    assert diff > 1e-3


@pytest.mark.parametrize("impl", ["sdpa", "math"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_never_changes_the_unpadded_part(impl, causal, side):
    model = make_model(causal=causal, norm="layernorm")
    lengths = [11, 4, 1, 7]
    T = max(lengths)
    seqs = [tokens(1, n, seed=10 + i)[0] for i, n in enumerate(lengths)]
    idx = tokens(len(seqs), T, seed=99)  # padding holds arbitrary tokens
    pad = torch.ones(len(seqs), T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        cols = slice(0, len(s)) if side == "right" else slice(T - len(s), T)
        idx[i, cols] = s
        pad[i, cols] = False
    with torch.no_grad():
        logits, x = model(idx, pad, return_residual=True, attn_impl=impl)
        assert torch.isfinite(x).all()  # padding queries do not produce NaN
        for i, s in enumerate(seqs):
            alone = model(s[None], attn_impl=impl)[0]
            torch.testing.assert_close(logits[i][~pad[i]], alone, atol=1e-5, rtol=1e-5)


def test_pad_mask_shape_must_match():
    with pytest.raises(ValueError, match="pad_mask"):
        make_model()(tokens(2, 5), torch.zeros(2, 4, dtype=torch.bool))


def test_init_false_skips_the_random_init(monkeypatch):
    """A caller that sets every weight (the compiler) skips GPT-2's normal init: what draws
    remain are the two embeddings' own, in nn.Embedding's constructor."""
    config = make_model().config
    draws = []
    real = torch.nn.init.normal_
    monkeypatch.setattr(
        torch.nn.init, "normal_", lambda t, *a, **k: draws.append(t.shape) or real(t, *a, **k)
    )
    Transformer(config)
    with_init = len(draws)
    draws.clear()
    model = Transformer(config, init=False)
    assert len(draws) == 2 and with_init > 2 + len(config.layers)
    assert {n: p.shape for n, p in model.named_parameters()} == {
        n: p.shape for n, p in make_model().named_parameters()
    }
