"""runtime.io: a model file round-trips bit-exactly, and every bad file is one clear error."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from runtime import LayerConfig, ModelFileError, Transformer, TransformerConfig, load, save
from runtime.device import maybe_compile


def small_model(**kw) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=9,
        max_seq_len=12,
        d_model=16,
        layers=[LayerConfig(2, 8, 32), LayerConfig(0, 0, 16), LayerConfig(1, 4, 0)],
        **kw,
    )
    return Transformer(config)


MANIFEST = {"vocab": ["BOS", "a", "b"], "bos": 0, "layout": {"tokens": [0, 3]}, "note": "é"}


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"norm": "layernorm", "causal": True, "d_out": 4},
        {"norm": "rmsnorm", "bias": False, "pos_embedding": False},
    ],
)
def test_save_load_round_trips_bit_exactly(tmp_path, kw):
    model = small_model(**kw)
    path = tmp_path / "m.safetensors"
    save(model, path, MANIFEST)
    loaded, manifest = load(path, device="cpu")
    assert manifest == MANIFEST
    assert loaded.config == model.config
    original = model.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for name, tensor in loaded.state_dict().items():
        assert tensor.dtype == original[name].dtype
        assert torch.equal(tensor, original[name]), name
    idx = torch.randint(0, 9, (2, 7))
    with torch.no_grad():
        assert torch.equal(loaded(idx), model(idx))
    assert not list(tmp_path.glob("*.tmp"))


def test_bf16_model_keeps_its_dtype(tmp_path):
    model = small_model().to(torch.bfloat16)
    save(model, tmp_path / "m.safetensors")
    loaded, manifest = load(tmp_path / "m.safetensors", device="cpu")
    assert manifest == {}
    assert loaded.tok_emb.weight.dtype == torch.bfloat16
    assert torch.equal(loaded.tok_emb.weight, model.tok_emb.weight)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch's own imports
def test_compiled_wrapper_saves_the_underlying_model(tmp_path):
    model = small_model()
    save(maybe_compile(model, "default"), tmp_path / "m.safetensors")  # compiles lazily: cheap
    loaded, _ = load(tmp_path / "m.safetensors", device="cpu")
    assert torch.equal(loaded.unembed.weight, model.unembed.weight)


def test_save_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="Transformer"):
        save(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="JSON"):
        save(small_model(), tmp_path / "x.safetensors", {"f": object()})


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.safetensors"
    save(small_model(), path, MANIFEST)
    return path


@pytest.mark.parametrize("keep", [0, 5, 20, -1, -100])
def test_truncated_file_is_a_clear_error(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])
    expected = "not a safetensors file" if keep < 8 and keep >= 0 else "truncated"
    with pytest.raises(ModelFileError, match=expected):
        load(saved)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world, this is not a model",
        b"\x00" * 64,
        b"PK\x03\x04" + bytes(range(200)),
        b"{" * 40,
    ],
)
def test_foreign_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a safetensors file|truncated"):
        load(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        load(tmp_path / "nope.safetensors")


def test_safetensors_file_that_is_not_a_raspc_model(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, path, metadata={"framework": "pt"})
    with pytest.raises(ModelFileError, match="not a raspc model"):
        load(path)


def rewrite_metadata(path, **changes) -> None:
    """Edit the JSON metadata of a safetensors file in place, keeping the tensor data."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"].update(changes)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_unknown_format_version(saved):
    rewrite_metadata(saved, format_version="2")
    with pytest.raises(ModelFileError, match="format version '2'"):
        load(saved)


def test_invalid_config(saved):
    rewrite_metadata(saved, config=json.dumps({"vocab_size": 9}))
    with pytest.raises(ModelFileError, match="invalid config"):
        load(saved)
    rewrite_metadata(saved, config="{not json")
    with pytest.raises(ModelFileError, match="invalid config"):
        load(saved)


def test_config_that_does_not_match_the_tensors(saved):
    config = small_model().config.to_dict()
    config["d_model"] = 24
    rewrite_metadata(saved, config=json.dumps(config))
    with pytest.raises(ModelFileError, match="shape"):
        load(saved)
    config["d_model"] = 16
    config["layers"] = config["layers"][:2]
    rewrite_metadata(saved, config=json.dumps(config))
    with pytest.raises(ModelFileError, match="unexpected .*blocks.2"):
        load(saved)


def test_missing_tensor(tmp_path):
    model = small_model()
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "unembed.bias"}
    meta = {
        "format": "raspc",
        "format_version": "1",
        "config": json.dumps(model.config.to_dict()),
        "manifest": "{}",
    }
    path = tmp_path / "m.safetensors"
    save_file(tensors, path, metadata=meta)
    with pytest.raises(ModelFileError, match=r"missing \['unembed.bias'\]"):
        load(path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_onto_cuda(saved):
    model, _ = load(saved, device="cuda")
    assert model.tok_emb.weight.device.type == "cuda"


def test_tied_embeddings_round_trip(tmp_path):
    """GPT-2-style tied weights save (each name its own copy) and load still tied."""
    import torch

    from runtime import LayerConfig, Transformer, TransformerConfig, load, save

    config = TransformerConfig(
        vocab_size=11,
        max_seq_len=8,
        d_model=16,
        layers=[LayerConfig(2, 8, 32)],
        causal=True,
        tie_embeddings=True,
    )
    model = Transformer(config)
    assert model.unembed.weight is model.tok_emb.weight
    save(model, tmp_path / "tied.safetensors")
    loaded, _ = load(tmp_path / "tied.safetensors")
    assert loaded.unembed.weight is loaded.tok_emb.weight
    idx = torch.randint(0, 11, (2, 8))
    assert torch.equal(model(idx), loaded(idx))


def test_an_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    """`write_safetensors` (models and lm checkpoints): a write that fails half-way leaves the
    old file as it was and no temporary file behind."""
    from runtime import io

    path = tmp_path / "m.safetensors"
    io.write_safetensors(path, {"w": torch.ones(3)}, {"k": "old"})
    before = path.read_bytes()

    def half_write(tensors, target, metadata):
        with open(target, "wb") as f:
            f.write(b"\x08\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        io.write_safetensors(path, {"w": torch.zeros(3)}, {"k": "new"})
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_write_safetensors_copies_shared_storage_and_reports_io_errors(tmp_path):
    from safetensors import safe_open

    from runtime.io import write_safetensors

    shared = torch.arange(6.0)
    write_safetensors(tmp_path / "a" / "t.safetensors", {"x": shared, "y": shared[:3]}, {})
    with safe_open(str(tmp_path / "a" / "t.safetensors"), framework="pt") as f:
        assert torch.equal(f.get_tensor("y"), torch.arange(3.0))
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        write_safetensors(tmp_path / "file" / "t.safetensors", {"x": shared}, {})
