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
import subprocess
import sys

import numpy as np
import pytest
import torch

import compiler
import rasp
from compiler.errors import CompileError
from compiler.program import same_output
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
from runtime.device import keep_freed_memory
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


def test_flush_denormals_is_scoped():
    tiny = torch.full((1,), 1e-39)
    assert tiny.mul(1.0).item() != 0.0
    with flush_denormals():
        assert tiny.mul(1.0).item() == 0.0
        with flush_denormals():
            pass
        assert tiny.mul(1.0).item() == 0.0  # the inner one restored "on"
    assert tiny.mul(1.0).item() != 0.0


FAULTS = """
import random, resource, sys
import compiler, runtime
from compiler.testing import env_with
from runtime import fast
if sys.argv[1] == "off":
    fast.keep_freed_memory = lambda: False
env = env_with()
env.run_file("examples/reverse.rasp")
prog = compiler.compile(env, "reverse", vocab=["a", "b", "c"], max_len=32)
rng = random.Random(0)
tokens, lengths = prog.encode_batch([[rng.choice("abc") for _ in range(32)]] * 1024)
forward = prog.fast_forward()
runtime.run_padded(forward, tokens, lengths)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    runtime.run_padded(forward, tokens, lengths)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(not keep_freed_memory(), reason="the C library is not glibc")
def test_cpu_forwards_reuse_freed_memory():
    """After the first forward, later ones map few new pages: malloc keeps what the last one
    freed (`runtime.device.keep_freed_memory`). Without it, reverse@32 maps its
    activations afresh on each batch (run in fresh processes: malloc's settings cannot be
    undone in this one)."""

    def faults(mode: str) -> float:
        done = subprocess.run(
            [sys.executable, "-c", FAULTS, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return float(done.stdout)

    kept, mapped = faults("on"), faults("off")
    if mapped < 500:  # measured here: about 2,200 a batch without, 120 with
        pytest.skip(f"this malloc already reuses freed memory ({mapped:.0f} faults a batch)")
    assert kept < mapped / 5, (kept, mapped)
