"""runtime.bench and the `bench` CLI: each benchmark runs end to end on tiny sizes, prints an
80-column table and writes JSON with the machine it ran on."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from runtime import bench as B
from runtime.cli import bench
from runtime.device import device_spec, maybe_compile

TINY = ["--device", "cpu", "--min-time", "0.01"]


pytestmark = pytest.mark.usefixtures("one_thread")


def invoke(args: list[str], tmp_path) -> tuple[str, dict]:
    path = tmp_path / "out.json"
    result = CliRunner().invoke(bench, [*args, "--json", str(path)])
    assert result.exit_code == 0, result.output
    table = result.output.splitlines()[:-1]  # the last line names the JSON file
    assert max(len(line) for line in table) <= 80, result.output
    return result.output, json.loads(path.read_text())


def test_gemm(tmp_path):
    out, data = invoke(
        [
            "gemm",
            *TINY,
            "--sizes",
            "32,64",
            "--dtype",
            "float32",
            "--model",
            "compiled",
            "--tokens",
            "16",
        ],
        tmp_path,
    )
    assert "square 64" in out and "mlp-fc" in out and "ridge point" in out
    row = data["rows"][1]
    assert (row["M"], row["N"], row["K"]) == (64, 64, 64)
    assert row["intensity"] == pytest.approx(2 * 64**3 / (3 * 64 * 64 * 4))
    assert row["tflops"] > 0 and row["bound"] in ("memory", "compute")
    assert data["machine"]["device"] == "cpu" and data["machine"]["bandwidth_measured"] > 0


def test_attention(tmp_path):
    out, data = invoke(
        ["attention", *TINY, "--seq-lens", "16,32", "--heads", "2", "--d-head", "8"], tmp_path
    )
    assert {(r["impl"], r["seq_len"]) for r in data["rows"]} == {
        (i, t) for i in ("sdpa", "math") for t in (16, 32)
    }
    assert "vs math" in out


def test_forward(tmp_path):
    out, data = invoke(
        [
            "forward",
            *TINY,
            "--d-model",
            "32",
            "--layers",
            "2",
            "--seq-len",
            "8",
            "--batches",
            "1,5",
            "--chunk",
            "2",
        ],
        tmp_path,
    )
    assert [r["batch"] for r in data["rows"]] == [1, 5]
    assert data["rows"][1]["seq_per_s"] > 0 and data["chunk"] == 2


def test_train(tmp_path):
    out, data = invoke(
        [
            "train",
            "--device",
            "cpu",
            "--preset",
            "tiny",
            "--batch",
            "1",
            "--seq-len",
            "16",
            "--steps",
            "1",
            "--peak-tflops",
            "1",
        ],
        tmp_path,
    )
    assert "MFU" in out and 0 < data["mfu"] < 1 and data["tokens_per_s"] > 0


def test_bad_arguments_are_usage_errors():
    runner = CliRunner()
    assert runner.invoke(bench, ["gemm", "--sizes", "a,b"]).exit_code == 2
    assert runner.invoke(bench, ["gemm", "--dtype", "int8"]).exit_code == 2
    if not torch.cuda.is_available():
        result = runner.invoke(bench, ["gemm", "--device", "cuda"])
        assert result.exit_code == 2 and "CUDA is not available" in result.output


def test_flop_counts_follow_the_conventions():
    config = B.preset("gpt2-small")
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = B.Transformer(config)
    assert model.num_params() == pytest.approx(124e6, rel=0.01)  # tied, as GPT-2
    per_token = B.train_flops_per_token(model, 1024)
    # nanoGPT's MFU: every parameter but the position embedding (the tied token embedding
    # is the LM head), plus 12 * layers * d_model * T for attention.
    n = model.num_params() - model.pos_emb.weight.numel()
    assert per_token == 6 * n + 12 * 12 * 768 * 1024
    assert 6 * n / (6 * model.num_params(embeddings=False)) == pytest.approx(1.45, abs=0.01)
    shapes = B.model_gemm_shapes(config, 8192)
    assert ("mlp-fc", 8192, 3072, 768) in shapes and ("unembed", 8192, 50304, 768) in shapes


def test_device_spec_and_compile_mode_checks():
    spec = device_spec(torch.device("cpu"), peak_tflops=2.0)
    assert spec.peak_flops["bfloat16"] == 2e12 and spec.source == "--peak-tflops"
    with pytest.raises(ValueError, match="compile mode"):
        maybe_compile(torch.nn.Linear(1, 1), "fast")
