"""The fast path (runtime.FastForward, bulk encode and decode) against the plain one.

Three ways to run a compiled program must agree on every input: the fast path
(`CompiledProgram.run_batch`), the plain path written out here (the `Transformer` module's own
forward, one sequence at a time, decoded one value at a time), and the interpreter.
"""

from __future__ import annotations

import glob
import itertools
import os
import random
import re

import numpy as np
import pytest
import torch

import compiler
import rasp
from compiler.codec import InputCodec, OutputCodec
from compiler.errors import CompileError
from compiler.manifest import Output
from compiler.program import same_output, same_value
from compiler.testing import ROOT, env_with
from rasp import interpreter
from rasp.examples import read_header
from runtime import (
    FastForward,
    LayerConfig,
    Transformer,
    TransformerConfig,
    run_padded,
    run_token_logits,
)
from runtime.batches import CPU_TOKENS, default_rows
from runtime.fast import flush_denormals

pytestmark = pytest.mark.usefixtures("one_thread")

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.rasp")))


def plain_run(prog: compiler.CompiledProgram, x) -> list:
    """The reference: the module's forward on one sequence, each value decoded by itself."""
    with torch.no_grad():
        logits = prog.model(torch.tensor([prog.encode(x)]), attn_impl="math")[0, 1:].double()
    out = prog.manifest.output
    if out.encoding == "categorical":
        return [out.values[int(i)] for i in logits.argmax(dim=1)]
    values = out.values or []
    got = []
    for v in logits[:, 0].tolist():
        near = sorted(values, key=lambda u: (abs(float(u) - v), not isinstance(u, float)))
        got.append(near[0] if near and abs(float(near[0]) - v) < 0.45 else v)
    return got


def random_model(seed: int, causal: bool, bias: bool, activation: str) -> Transformer:
    """A small model with the zero structure of a compiled one: some q/k/v rows, whole heads,
    MLP units and sublayers zero."""
    torch.manual_seed(seed)
    layers = [
        LayerConfig(3, 5, 12),
        LayerConfig(2, 4, 0),
        LayerConfig(0, 0, 9),
        LayerConfig(1, 3, 6),
    ]
    config = TransformerConfig(
        vocab_size=7,
        max_seq_len=9,
        d_model=10,
        layers=layers,
        causal=causal,
        bias=bias,
        activation=activation,
        attn_scale=2.0,
        d_out=4,
        attn_impl="math",
    )
    model = Transformer(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        first = model.blocks[0]
        h0, h2 = first.attn.head(0), first.attn.head(2)
        h0.q[1:3] = 0  # q.k terms dropped
        h2.v.zero_()  # a head that adds nothing
        if bias:
            h0.q_bias[1:3] = 0
            h2.v_bias.zero_()
        first.mlp.proj.weight[:, 4:8] = 0  # MLP units dropped
        first.mlp.proj.weight[:3] = 0  # rows the MLP never writes
        first.mlp.fc.weight[:, 1:9] = 0  # it reads 2 of 10 columns: gathered
        model.blocks[1].attn.proj.weight.zero_()  # an empty sublayer
        if bias:
            model.blocks[1].attn.proj.bias.zero_()
        model.blocks[3].mlp.fc.weight[:, 6:] = 0  # columns the MLP never reads
    return model


@pytest.mark.parametrize(
    "causal,bias,activation", [(False, True, "relu"), (True, True, "gelu"), (False, False, "relu")]
)
def test_fast_forward_equals_the_module(causal, bias, activation):
    model = random_model(0, causal, bias, activation)
    fast = FastForward(model)
    widths = fast.widths()
    assert len(widths) == 3 and [w for w, _ in widths[0][0]] == [3, 5]  # pruned, one skipped
    assert widths[0][1] == 8
    assert fast.layers[0][1].read.tolist() == [0, 9]  # gathered columns
    assert fast.layers[2][1].read == 6  # a prefix
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 7, (6, 9), generator=gen)
    lengths = torch.tensor([9, 1, 4, 9, 7, 2])
    pad = torch.arange(9)[None, :] >= lengths[:, None]
    with torch.no_grad():
        want, resid = model(idx, pad, return_residual=True)
    got = fast(idx, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[row, :n], want[row, :n], atol=1e-4)
        assert torch.allclose(fast(idx, lengths, "residual")[row, :n], resid[row, :n], atol=1e-4)
    tokens, lens = idx.numpy(), lengths.numpy()
    out = run_padded(fast, tokens, lens, rows=2)  # chunked by length, in input order
    for row, n in enumerate(lens):
        assert np.allclose(out[row, :n], want[row, :n].numpy(), atol=1e-4)
    assert run_padded(fast, tokens, lens, columns=slice(1, 3)).shape == (6, 9, 2)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kept", [False, True])
def test_heads_keyed_by_token_attend_over_token_counts(causal, kept):
    """A head whose keys read only columns holding the token embedding runs over token
    classes; one reading a column a sublayer wrote does not, unless nothing wrote it."""
    model = random_model(3, causal, True, "relu")
    with torch.no_grad():
        model.pos_emb.weight[:, :4] = 0  # columns 0-3: the token embedding alone
        for attn in (model.blocks[0].attn, model.blocks[3].attn):
            attn.head(0).k[:, 4:] = 0
        model.blocks[0].attn.head(1).k.zero_()  # keys read nothing: all scores equal
        model.blocks[0].attn.head(1).k_bias.zero_()
        if kept:  # then nothing writes columns 0-3 before the last layer
            model.blocks[0].attn.proj.weight[:4] = 0
            model.blocks[0].attn.proj.bias[:4] = 0
            for mlp in (model.blocks[0].mlp, model.blocks[2].mlp):
                mlp.proj.weight[:4] = 0
                mlp.proj.bias[:4] = 0
    fast = FastForward(model)
    first, last = fast.layers[0][0], fast.layers[2][0]
    assert [h.keys is not None for h in first.heads] == [True, True]
    assert (last.heads[0].keys is not None) == kept
    gen = torch.Generator().manual_seed(4)
    idx = torch.randint(0, 7, (5, 9), generator=gen)
    lengths = torch.tensor([9, 1, 5, 3, 9])
    pad = torch.arange(9)[None, :] >= lengths[:, None]
    with torch.no_grad():
        want = model(idx, pad)
    got = fast(idx, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[row, :n], want[row, :n], atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(fast(idx), model(idx), atol=1e-4)  # no padding
        short = idx[:, :6]  # fewer positions than tokens: keys looked up, no token classes
        assert torch.allclose(fast(short), model(short), atol=1e-4)


@pytest.mark.parametrize("bias", [False, True])
def test_position_free_models_run_once_per_token(bias):
    """Where nothing reads a position column (and attention is bidirectional), the forward
    runs a row per vocabulary entry and sequence; logits equal the module's at every real
    position, padded or not, whole or a column slice."""
    model = random_model(5, False, bias, "relu")
    with torch.no_grad():
        model.pos_emb.weight[:, :9] = 0  # positions only in column 9, which nothing reads
        for block in model.blocks:
            if block.attn is not None:
                block.attn.qkv.weight[:, 9] = 0
            if block.mlp is not None:
                block.mlp.fc.weight[:, 9] = 0
        model.unembed.weight[:, 9] = 0
    fast = FastForward(model)
    assert fast.position_free
    gen = torch.Generator().manual_seed(6)
    idx = torch.randint(0, 7, (6, 9), generator=gen)
    lengths = torch.tensor([9, 1, 4, 9, 7, 2])
    pad = torch.arange(9)[None, :] >= lengths[:, None]
    with torch.no_grad():
        want, resid = model(idx, pad, return_residual=True)
        assert torch.allclose(fast(idx), model(idx), atol=1e-4)
        assert torch.allclose(fast(idx[:, :6]), model(idx[:, :6]), atol=1e-4)  # T < vocab
    got = fast(idx, lengths)
    part = fast(idx, lengths, columns=slice(1, 3))
    for row, n in enumerate(lengths.tolist()):
        assert torch.allclose(got[row, :n], want[row, :n], atol=1e-4)
        assert torch.allclose(part[row, :n], want[row, :n, 1:3], atol=1e-4)
        assert torch.allclose(fast(idx, lengths, "residual")[row, :n], resid[row, :n], atol=1e-4)
    out = run_padded(fast, idx.numpy(), lengths.numpy())
    assert all(
        np.allclose(out[i, :n], want[i, :n].numpy(), atol=1e-4)
        for i, n in enumerate(lengths.tolist())
    )
    assert default_rows(fast, 9) == CPU_TOKENS // 7  # chunks sized by the 7 rows it runs
    table = run_token_logits(fast, idx.numpy(), lengths.numpy(), slice(1, 3))  # [N, V, 2]
    assert table.shape == (6, 7, 2)
    looked_up = np.take_along_axis(table, idx.numpy()[..., None], axis=1)
    for i, n in enumerate(lengths.tolist()):  # each position's row of its token, exactly
        assert np.array_equal(looked_up[i, :n], part[i, :n].numpy())
    with torch.no_grad():
        model.blocks[3].mlp.fc.weight[0, 9] = 1.0  # now a layer reads the position
    assert not FastForward(model).position_free
    assert default_rows(FastForward(model), 9) == CPU_TOKENS // 9
    causal = random_model(5, True, bias, "relu")
    causal.load_state_dict(model.state_dict())
    with torch.no_grad():
        causal.blocks[3].mlp.fc.weight[0, 9] = 0
    assert not FastForward(causal).position_free  # a causal model sees a prefix
    with pytest.raises(ValueError, match="reads no position"):
        FastForward(causal).token_logits(idx)


def test_fast_forward_float64_and_errors():
    model = random_model(2, False, True, "relu").double()
    fast = FastForward(model)
    idx = torch.randint(0, 7, (2, 5))
    assert fast(idx).dtype == torch.float64
    with torch.no_grad():
        assert torch.allclose(fast(idx), model(idx), atol=1e-12)
    with pytest.raises(ValueError, match="max_seq_len"):
        fast(torch.zeros(1, 10, dtype=torch.long))
    normed = Transformer(TransformerConfig(5, 4, 8, [LayerConfig(1, 4, 4)], norm="layernorm"))
    with pytest.raises(ValueError, match="norm-free"):
        FastForward(normed)
    with pytest.raises(ValueError, match="length"):
        run_padded(fast, np.zeros((2, 3), dtype=np.int64), np.array([0, 3]))
    with pytest.raises(ValueError, match="sequence 1 has token id 7 at position 2"):
        run_padded(fast, np.array([[1, 2, 3], [1, 2, 7]]), np.array([3, 3]))
    with pytest.raises(ValueError, match="tokens must be"):
        run_padded(fast, np.zeros(3, dtype=np.int64), np.array([3]))
    with pytest.raises(ValueError, match="sequence 1 has token id 7 at position 2"):
        run_token_logits(fast, np.array([[1, 2, 3], [1, 2, 7]]), np.array([3, 3]))


def test_fast_forward_follows_changed_weights():
    prog = compiler.compile(env_with(), "tokens", vocab=["a", "b"], max_len=3)
    assert prog.run("ab") == ["a", "b"]
    first = prog.fast_forward()
    assert prog.fast_forward() is first
    with torch.no_grad():
        prog.model.unembed.weight.neg_()
    assert prog.fast_forward() is not first and prog.run("ab") == ["b", "a"]


def _program(path: str, n: int):
    header = read_header(path).compile
    if header is None:
        return None, None
    env = rasp.Environment()
    env.run(open(path).read(), os.path.relpath(path, ROOT))
    vocab = header.vocab[:3]
    try:
        return compiler.compile(env, header.expr, vocab=vocab, max_len=n), vocab
    except CompileError:
        return None, None


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_fast_path_equals_plain_path_and_interpreter(path, monkeypatch):
    """Exhaustive up to length 4, sampled at the longest length, all in one ragged batch."""
    monkeypatch.chdir(ROOT)
    prog, vocab = _program(path, 7)
    if prog is None:
        pytest.skip("no compile header, or refused")
    rng = random.Random(0)
    inputs = [list(t) for n in range(1, 5) for t in itertools.product(vocab, repeat=n)]
    inputs += [[rng.choice(vocab) for _ in range(rng.choice([6, 7]))] for _ in range(40)]
    fast = prog.run_batch(inputs)
    values = prog.manifest.output.values or []
    # The decoded value has the interpreter's type, except where a mean's selection holds
    # one key and the program can produce both n and float(n) (see OutputCodec).
    ambiguous = len({float(v) for v in values if isinstance(v, int | float)}) < sum(
        isinstance(v, int | float) for v in values
    )
    checked = 0
    for x, got in zip(inputs, fast, strict=True):
        try:
            want = interpreter.evaluate_batch(prog.node, [x])[0]
        except rasp.RaspError:
            continue
        plain = plain_run(prog, x)
        assert got == plain or same_output(plain, got), (x, got, plain)
        assert same_output(want, got), (x, want, got)
        if not ambiguous:
            assert [type(v) for v in got] == [type(v) for v in want], (x, want, got)
        checked += 1
    assert checked > len(inputs) // 2


def test_codec_snaps_in_bulk():
    codec = OutputCodec(Output("numerical", [0, 0.5, 1.0, 1, 3]))
    logits = np.array([[[0.1], [0.4], [0.98], [1.8], [2.9], [-9.0]]], dtype=np.float32)
    got = codec.decode(logits)[0].tolist()
    assert got[:3] == [0, 0.5, 1.0] and isinstance(got[2], float)  # floats over equal ints
    assert got[3] == pytest.approx(1.8) and isinstance(got[3], float)  # off every value
    assert got[4:] == [3, pytest.approx(-9.0)]
    counts = OutputCodec(Output("numerical", [3, 1, 2, 0]))
    assert counts.consecutive and not codec.consecutive
    x = np.array([[[-0.6], [0.2], [1.5], [2.6], [3.4], [9.0], [np.nan], [-5.0]]])
    got = counts.decode(x)[0].tolist()
    assert got[:5] == [-0.6, 0, 1.5, 3, 3] and [type(v) for v in got[1:5:3]] == [int, int]
    assert got[5] == 9.0 and np.isnan(got[6]) and got[7] == -5.0
    one = OutputCodec(Output("numerical", [2]))
    assert one.decode(np.array([[[2.00001], [2.1]]]))[0].tolist() == [2, pytest.approx(2.1)]
    free = OutputCodec(Output("numerical", None))
    assert free.decode(np.array([[[1.25]]]))[0].tolist() == [1.25]
    cat = OutputCodec(Output("categorical", ["x", [1, 2], 3]))
    assert cat.decode(np.array([[[0, 5, 1], [9, 0, 0]]]))[0].tolist() == [[1, 2], "x"]


def test_same_value_is_one_rule():
    assert same_value(1, 1.0) and same_value(0.3333333, 1 / 3) and same_value(True, 1)
    assert not same_value(1, 1.01) and not same_value("1", 1) and not same_value(None, 0)
    assert same_value(None, None) and same_value("a", "a")
    assert same_output([1, "a"], [1.0, "a"]) and not same_output([1], [1, 2])


def test_encode_batch_keeps_types_apart():
    prog = compiler.compile(env_with(), "tokens", vocab=[1, 2.5, "a"], max_len=4)
    tokens, lengths = prog.encode_batch([[1, 1], ["a"], [2.5, "a", 1]])
    bos = prog.manifest.bos
    assert tokens.tolist() == [[bos, 0, 0, bos], [bos, 2, bos, bos], [bos, 1, 2, 0]]
    assert lengths.tolist() == [3, 2, 4]
    for bad in (1.0, True, "b"):  # equal to a token, or of a type the vocabulary has
        with pytest.raises(ValueError, match=f"token {bad!r} is not in the vocabulary"):
            prog.run_batch([[1], [bad]])
    ints = compiler.compile(env_with(), "tokens", vocab=[1, 2], max_len=4)
    with pytest.raises(ValueError, match="token True"):
        ints.run_batch([[True, True]])
    with pytest.raises(ValueError, match="longer"):
        ints.run_batch([[1, 2, 1, 2, 1]])
    with pytest.raises(ValueError, match="non-empty"):
        ints.run_batch([[]])


def test_text_inputs_encode_through_one_lookup():
    prog = compiler.compile(env_with(), "tokens", vocab=["a", "b", "é"], max_len=4)
    tokens, lengths = prog.encode_batch(["ab", "é", "bbaa"])
    assert tokens[:, 1:].tolist() == [[0, 1, 3, 3], [2, 3, 3, 3], [1, 1, 0, 0]]
    assert prog.run_batch(["ab", ["é", "a"]]) == [["a", "b"], ["é", "a"]]
    for bad in ("c", "\U0001f600", "\x00"):
        with pytest.raises(ValueError, match=re.escape(f"token {bad!r} is not in the")):
            prog.run_batch(["ab", "a" + bad])


def test_lists_of_characters_encode_as_text():
    """Lists of one-character tokens take the joined-string path; anything else (a longer or
    empty token, NUL, a non-string) the per-token one, with the same ids or the same error."""
    codec = InputCodec(["a", "b", "ab", "", 1], 5, 4)
    slow = InputCodec(["a", "b", "ab", "", 1], 5, 4)
    slow._encode_chars = lambda seqs, n: None  # the reference: per-token lookups only
    cases = [
        [["a", "b"], ["b"]],
        [["ab", "a"], ["a", "b"]],
        [["", "ab"], ["a", "b"]],
        [["a", ""], ["b"]],
        [["a", 1], ["b", "a"]],
        ["ab", ["b", "a", "a"]],
    ]
    for inputs in cases:
        got, want = codec.encode_batch(inputs), slow.encode_batch(inputs)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert codec._encode_chars([["a", "b"], "a"], 3).tolist() == [0, 1, 0]
    latin = InputCodec(["a", "\u00e9", "\u00ff"], 3, 4)  # (character, NUL) pairs as uint16
    assert latin._encode_chars([["\u00ff", "a"], ["\u00e9"]], 3).tolist() == [2, 0, 1]
    for flat in (["a", "\u0101"], ["\u00e9", "\x00"], ["\u0101\u00e9"]):
        assert latin._encode_chars([flat], len(flat)) is None, flat
    wide = InputCodec(["a", "\u00e9", "\u4e2d"], 3, 4)
    assert wide._encode_chars([["\u4e2d", "a"], ["\u00e9"]], 3).tolist() == [2, 0, 1]
    for flat in (["a", "\x00"], ["ab", ""], ["", "ab"], ["a", 1], ["c"], ["a\x00b", "", ""]):
        assert codec._encode_chars([flat], len(flat)) is None, flat
    for bad in ("c", "\x00", 2.0):
        with pytest.raises(ValueError, match=re.escape(f"token {bad!r} is not in the")):
            codec.encode_batch([["a"], ["b", bad]])


def test_numbers_decode_into_typed_arrays_where_the_values_allow():
    """All ints: int64; all floats: float64; mixed, typed or off every value: objects. The
    Python values `tolist` gives back are the same either way."""
    ints = OutputCodec(Output("numerical", [3, 1, 2, 0]))
    got = ints.decode(np.array([[[0.1], [2.9]]], dtype=np.float32))
    assert got.dtype == np.int64 and got.tolist() == [[0, 3]]
    assert type(got.tolist()[0][0]) is int
    off = ints.decode(np.array([[[0.1], [1.5]]], dtype=np.float32))
    assert off.dtype == object and off.tolist() == [[0, 1.5]]
    floats = OutputCodec(Output("numerical", [0.5, 0.25]))
    got = floats.decode(np.array([[[0.26], [0.49]]]))
    assert got.dtype == np.float64 and got.tolist() == [[0.25, 0.5]]
    assert OutputCodec(Output("numerical", [1, 0.5])).decode(np.zeros((1, 1, 1))).dtype == object
    assert OutputCodec(Output("numerical", [True, 2])).decode(np.zeros((1, 1, 1))).dtype == object
    assert OutputCodec(Output("numerical", [2**70, 1])).decode(np.ones((1, 1, 1))).dtype == object


def test_position_free_programs_decode_per_token():
    """hist reads no position: run_arrays decodes one entry per vocabulary token and looks
    positions up by token; the values equal the position-by-position decode's."""
    prog = compiler.compile(
        os.path.join(ROOT, "examples", "hist.rasp"), "hist", ["a", "b", "c"], 12
    )
    fast = prog.fast_forward()
    assert fast.position_free
    rng = random.Random(3)
    inputs = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 12))) for _ in range(300)]
    values, lengths = prog.run_arrays(inputs)
    assert values.dtype == np.int64
    tokens, with_bos = prog.encode_batch(inputs)
    plain = prog.codec.decode(run_padded(fast, tokens, with_bos, columns=slice(0, 1))[:, 1:])
    for i, n in enumerate(lengths.tolist()):
        assert values[i, :n].tolist() == plain[i, :n].tolist()
    assert prog.run_batch(inputs) == interpreter.evaluate_batch(prog.node, inputs)
    strings = compiler.compile(env_with(), "tokens", vocab=["a", "b"], max_len=6)
    assert strings.fast_forward().position_free
    values, lengths = strings.run_arrays(["abba", "bab", "aaaaab"])  # object values
    assert values.dtype == object and strings.codec.rows(values, lengths) == [
        list("abba"),
        list("bab"),
        list("aaaaab"),
    ]


def test_rows_cut_each_row_to_its_length():
    values = np.array([[1, 2, 3], [4, 5, 6]], dtype=object)
    assert OutputCodec.rows(values, np.array([3, 1])) == [[1, 2, 3], [4]]
    assert OutputCodec.rows(values[:, :0], np.array([0, 0])) == [[], []]


def test_flush_denormals_is_scoped():
    tiny = torch.full((1,), 1e-39)
    assert tiny.mul(1.0).item() != 0.0
    with flush_denormals():
        assert tiny.mul(1.0).item() == 0.0
        with flush_denormals():
            pass
        assert tiny.mul(1.0).item() == 0.0  # the inner one restored "on"
    assert tiny.mul(1.0).item() != 0.0
