"""The prepared GPU run: its dry run on the CPU (tiny sizes, every section), and on a CUDA
machine the compiled models on the GPU against the CPU. GPU-only tests skip without CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import compiler
from compiler.testing import env_with

ROOT = Path(__file__).resolve().parent.parent
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def gpu_script():
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_every_section(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        assert gpu_script().main(["--dry-run", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    every = json.loads((tmp_path / "gpu.json").read_text())
    for section in ("gemm", "attention", "train", "compiled"):
        assert json.loads((tmp_path / f"{section}.json").read_text()) == every[section]
    assert {r["bound"] for r in every["gemm"]["rows"]} <= {"memory", "compute"}
    assert every["gemm"]["machine"]["source"].startswith("measured")
    assert {r["impl"] for r in every["attention"]["rows"]} == {"sdpa", "math"}
    assert 0 < every["train"]["mfu"] and every["train"]["tokens_per_s"] > 0
    rows = every["compiled"]["rows"]
    assert [r["program"] for r in rows] == ["sort@4", "sort@8", "reverse@4", "hist@8"]
    assert all(r["exact"] == r["checked"] == 64 for r in rows)
    assert all(r["best_batch"] >= 64 and r["bare_seq_per_s"] > 0 for r in rows)


def test_without_cuda_the_real_run_refuses(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    with pytest.raises(SystemExit):
        gpu_script().main([])
    assert "no CUDA device" in capsys.readouterr().err


@cuda
def test_compiled_model_on_the_gpu_matches_the_cpu():
    prog = compiler.compile(
        env_with("h = selector_width(select(tokens, tokens, ==));"),
        "h",
        vocab=["a", "b", "c"],
        max_seq_len=16,
    )
    inputs = ["abcab", "c" * 16, "ba"]
    want = prog.run_batch(inputs)
    prog.model.to("cuda")
    assert prog.fast_forward().device.type == "cuda"
    assert prog.run_batch(inputs) == want
