"""Devices: picking one, a clear error without CUDA, exact fp32 (TF32 off and restored), and on
CUDA (skipped without it) the same outputs as on the CPU."""

from __future__ import annotations

import pytest
import torch
from runtime_models import make_model, tokens

from runtime.device import autocast, exact_fp32, pick_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

pytestmark = pytest.mark.usefixtures("one_thread")


# --- devices ----------------------------------------------------------------------------------


def test_pick_device(monkeypatch):
    monkeypatch.delenv("RASPC_DEVICE", raising=False)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("RASPC_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("abacus")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_asking_for_missing_cuda_is_an_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


def test_exact_fp32_turns_tf32_off_and_restores():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        with exact_fp32():
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.backends.cudnn.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


# --- CUDA -------------------------------------------------------------------------------------


@cuda
def test_cuda_matches_cpu_in_exact_fp32():
    model = make_model(causal=False, attn_scale=100.0)
    idx = tokens(4, 20)
    with torch.no_grad(), exact_fp32():
        cpu = model(idx)
        gpu = model.cuda()(idx.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=1e-5)


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_sdpa_equals_math(dtype):
    model = make_model(norm="layernorm").cuda().to(dtype)
    idx = tokens(4, 24).cuda()
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    with torch.no_grad(), exact_fp32():
        torch.testing.assert_close(
            model(idx, attn_impl="sdpa"), model(idx, attn_impl="math"), atol=tol, rtol=tol
        )


@cuda
def test_cuda_generation_and_autocast():
    model = make_model(norm="layernorm").cuda()
    prompt = tokens(3, 4).cuda()
    assert torch.equal(
        model.generate(prompt, 8, greedy=True),
        model.generate(prompt, 8, greedy=True, use_cache=False),
    )
    device = torch.device("cuda")
    with autocast(device):
        assert model(prompt).dtype == torch.bfloat16


@cuda
def test_cuda_compiled_model_matches_eager():
    from runtime.device import maybe_compile

    model = make_model(causal=False).cuda()
    idx = tokens(8, 16).cuda()
    with torch.no_grad(), exact_fp32():
        torch.testing.assert_close(
            maybe_compile(model, "default")(idx), model(idx), atol=1e-5, rtol=1e-5
        )
