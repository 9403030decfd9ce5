"""Throughput measurements of the runtime: GEMMs, attention, batched forward, a training step.

Each `bench_*` function returns a JSON-able dict (rows plus the machine they came from); the
`rasp bench` commands in `runtime.cli` print them as tables. FLOP counts follow the usual
conventions: a [M,K] x [K,N] product is 2MNK FLOPs; attention forward is 4*B*H*T^2*Dh (halved
when causal); a training step is 6 FLOPs per parameter per token plus 12*L*H*Dh*T for attention
(the PaLM / nanoGPT estimate behind MFU).
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F

from runtime.attention import attention
from runtime.device import (
    autocast,
    device_spec,
    exact_fp32,
    maybe_compile,
    synchronize,
)
from runtime.model import LayerConfig, Transformer, TransformerConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def preset(name: str) -> TransformerConfig:
    """Model shapes the benchmarks use.

    'gpt2-small': GPT-2 small (12 x 768, 12 heads, length 1024, tied embeddings: 124M
    parameters). 'compiled': a mid-size
    compiled RASP program (d_model 256, 4 layers, length 32, hard attention, no norm). 'tiny':
    a small causal LM for CPU training checks.
    """
    if name == "gpt2-small":
        return TransformerConfig(
            vocab_size=50304,
            max_seq_len=1024,
            d_model=768,
            layers=[LayerConfig(12, 64, 3072) for _ in range(12)],
            activation="gelu",
            norm="layernorm",
            causal=True,
            tie_embeddings=True,
        )
    if name == "tiny":
        return TransformerConfig(
            vocab_size=512,
            max_seq_len=128,
            d_model=128,
            layers=[LayerConfig(4, 32, 512) for _ in range(4)],
            activation="gelu",
            norm="layernorm",
            causal=True,
        )
    if name == "compiled":
        return compiled_config(d_model=256, n_layers=4, seq_len=32)
    raise ValueError(f"unknown preset {name!r} (gpt2-small, compiled, tiny)")


def compiled_config(
    d_model: int, n_layers: int, seq_len: int, n_heads: int = 4, vocab_size: int = 32
) -> TransformerConfig:
    """The shape of a compiled program: bidirectional, no norm, ReLU, near-hard attention."""
    return TransformerConfig(
        vocab_size=vocab_size,
        max_seq_len=seq_len,
        d_model=d_model,
        layers=[LayerConfig(n_heads, d_model // n_heads, 4 * d_model) for _ in range(n_layers)],
        activation="relu",
        norm="none",
        causal=False,
        attn_scale=100.0,
    )


def machine(device: torch.device, peak_tflops: float | None = None) -> dict[str, Any]:
    """Where the figures came from: device, peak figures, software versions."""
    spec = device_spec(device, peak_tflops)
    return {
        "device": device.type,
        **asdict(spec),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "loadavg": os.getloadavg()[0],
    }


def measure(fn: Callable[[], Any], device: torch.device, min_time: float = 0.2) -> float:
    """Median seconds per call of fn(), over repeated timed loops of about min_time in all,
    after a warm-up call. On CUDA the loops are timed with CUDA events (the GPU's own clock,
    not the host's view of an asynchronous queue)."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()  # warm-up, also a first estimate of the cost
    synchronize(device)
    first = max(time.perf_counter() - t0, 1e-7)
    repeats = 3 if first > min_time / 3 else 5
    inner = max(1, round(min_time / repeats / first))
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3 / inner)
            continue
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def measure_bandwidth(device: torch.device, mbytes: int | None = None) -> float:
    """Achieved memory bandwidth in bytes/s of a large device-to-device copy (read + write)."""
    mbytes = mbytes or (1024 if device.type == "cuda" else 128)
    src = torch.empty(mbytes * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return 2 * src.numel() / measure(lambda: dst.copy_(src), device)


def model_gemm_shapes(config: TransformerConfig, tokens: int) -> list[tuple[str, int, int, int]]:
    """(name, M, N, K) of the distinct GEMMs of one forward pass over `tokens` tokens."""
    D = config.d_model
    shapes: dict[tuple[int, int, int], str] = {}
    for ly in config.layers:
        if ly.n_heads:
            shapes.setdefault((tokens, 3 * ly.n_heads * ly.d_head, D), "qkv")
            shapes.setdefault((tokens, D, ly.n_heads * ly.d_head), "attn-out")
        if ly.d_mlp:
            shapes.setdefault((tokens, ly.d_mlp, D), "mlp-fc")
            shapes.setdefault((tokens, D, ly.d_mlp), "mlp-proj")
    shapes.setdefault((tokens, config.out_features, D), "unembed")
    return [(name, m, n, k) for (m, n, k), name in shapes.items()]


def bench_gemm(
    device: torch.device,
    dtypes: list[str],
    sizes: dict[str, list[int]],
    model_shapes: list[tuple[str, int, int, int]],
    min_time: float = 0.2,
    peak_tflops: float | None = None,
) -> dict[str, Any]:
    """TFLOP/s of square GEMMs and of a model's own GEMMs, with arithmetic intensity
    (2MNK / bytes of A, B and C) and the roofline verdict: a shape is memory-bound when its
    intensity is below the ridge point, peak FLOP/s / memory bandwidth."""
    info = machine(device, peak_tflops)
    bandwidth = measure_bandwidth(device)
    info["bandwidth_measured"] = bandwidth
    rows = []
    with exact_fp32():
        for dtype in dtypes:
            peak = info["peak_flops"].get(dtype)
            shapes = [(f"square {n}", n, n, n) for n in sizes[dtype]] + model_shapes
            for name, M, N, K in shapes:
                a = torch.randn(M, K, device=device, dtype=DTYPES[dtype])
                b = torch.randn(K, N, device=device, dtype=DTYPES[dtype])
                seconds = measure(functools.partial(torch.matmul, a, b), device, min_time)
                flops = 2 * M * N * K
                moved = (M * K + K * N + M * N) * a.element_size()
                intensity = flops / moved
                ridge = peak / bandwidth if peak else None
                rows.append(
                    {
                        "name": name,
                        "M": M,
                        "N": N,
                        "K": K,
                        "dtype": dtype,
                        "seconds": seconds,
                        "tflops": flops / seconds / 1e12,
                        "intensity": intensity,
                        "bytes": moved,
                        "frac_peak": flops / seconds / peak if peak else None,
                        "ridge": ridge,
                        "bound": None
                        if ridge is None
                        else ("memory" if intensity < ridge else "compute"),
                    }
                )
    return {"machine": info, "rows": rows}


def bench_attention(
    device: torch.device,
    seq_lens: list[int],
    batch: int,
    n_heads: int,
    d_head: int,
    dtype: str,
    causal: bool,
    impls: tuple[str, ...] = ("sdpa", "math"),
    min_time: float = 0.2,
    peak_tflops: float | None = None,
) -> dict[str, Any]:
    """Forward attention alone (no projections): tokens/s and FLOP/s per sequence length."""
    info = machine(device, peak_tflops)
    peak = info["peak_flops"].get(dtype)
    rows = []
    with exact_fp32(), torch.inference_mode():
        for T in seq_lens:
            q, k, v = (
                torch.randn(batch, n_heads, T, d_head, device=device, dtype=DTYPES[dtype])
                for _ in range(3)
            )
            flops = 4 * batch * n_heads * T * T * d_head // (2 if causal else 1)
            for impl in impls:
                seconds = measure(
                    functools.partial(attention, q, k, v, None, causal, d_head**-0.5, impl),
                    device,
                    min_time,
                )
                rows.append(
                    {
                        "impl": impl,
                        "seq_len": T,
                        "seconds": seconds,
                        "tokens_per_s": batch * T / seconds,
                        "tflops": flops / seconds / 1e12,
                        "frac_peak": flops / seconds / peak if peak else None,
                    }
                )
    return {
        "machine": info,
        "batch": batch,
        "n_heads": n_heads,
        "d_head": d_head,
        "dtype": dtype,
        "causal": causal,
        "rows": rows,
    }


def forward_flops_per_token(config: TransformerConfig, seq_len: int) -> int:
    """FLOPs of one token's forward pass: 2 per matmul weight, plus bidirectional attention."""
    total = 0
    for ly in config.layers:
        width = ly.n_heads * ly.d_head
        total += 2 * (4 * config.d_model * width + 2 * config.d_model * ly.d_mlp)
        total += 4 * seq_len * width
    return total + 2 * config.d_model * config.out_features


def bench_forward(
    device: torch.device,
    config: TransformerConfig,
    seq_len: int,
    batches: list[int],
    chunk: int,
    compile_mode: str = "none",
    min_time: float = 0.2,
    peak_tflops: float | None = None,
) -> dict[str, Any]:
    """Sequences/s of a float32 forward pass (TF32 off, as compiled programs run) per batch
    size; batches larger than `chunk` run as several calls of at most `chunk` sequences."""
    info = machine(device, peak_tflops)
    model = Transformer(config).to(device).eval()
    run = maybe_compile(model, compile_mode)
    flops_per_seq = forward_flops_per_token(config, seq_len) * seq_len
    rows = []
    with exact_fp32(), torch.inference_mode():
        for batch in batches:
            idx = torch.randint(0, config.vocab_size, (min(batch, chunk), seq_len), device=device)
            sizes = [min(chunk, batch - i) for i in range(0, batch, chunk)]

            def step(idx: torch.Tensor = idx, sizes: list[int] = sizes) -> None:
                for n in sizes:
                    run(idx[:n])

            seconds = measure(step, device, min_time)
            rows.append(
                {
                    "batch": batch,
                    "seconds": seconds,
                    "seq_per_s": batch / seconds,
                    "tokens_per_s": batch * seq_len / seconds,
                    "tflops": batch * flops_per_seq / seconds / 1e12,
                }
            )
    return {
        "machine": info,
        "config": config.to_dict(),
        "seq_len": seq_len,
        "params": model.num_params(),
        "chunk": chunk,
        "compile": compile_mode,
        "rows": rows,
    }


def train_flops_per_token(model: Transformer, seq_len: int) -> int:
    """6 FLOPs per matmul parameter per token plus 12*H*Dh*T per layer for attention, as
    nanoGPT counts MFU: embedding lookups cost nothing, but a tied token embedding is also
    the LM head, a matmul, so it counts."""
    attn = sum(12 * ly.n_heads * ly.d_head * seq_len for ly in model.config.layers)
    params = model.num_params(embeddings=False)
    if model.config.tie_embeddings:
        params += model.tok_emb.weight.numel()
    return 6 * params + attn


def bench_train(
    device: torch.device,
    config: TransformerConfig,
    batch: int,
    seq_len: int,
    steps: int = 5,
    compile_mode: str = "none",
    peak_tflops: float | None = None,
) -> dict[str, Any]:
    """Tokens/s and MFU of AdamW training steps (bf16 autocast on CUDA, float32 on CPU)."""
    info = machine(device, peak_tflops)
    model = Transformer(config).to(device).train()
    run = maybe_compile(model, compile_mode)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=device.type == "cuda" or None)
    idx = torch.randint(0, config.vocab_size, (batch, seq_len + 1), device=device)
    x, y = idx[:, :-1], idx[:, 1:]

    def step() -> None:
        with autocast(device):
            logits = run(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2 if compile_mode == "none" else 3):  # warm-up (and compilation)
        step()
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = (time.perf_counter() - t0) / steps
    tokens_per_s = batch * seq_len / seconds
    flops = train_flops_per_token(model, seq_len) * tokens_per_s
    dtype = "bfloat16" if device.type == "cuda" else "float32"
    peak = info["peak_flops"].get(dtype)
    return {
        "machine": info,
        "config": config.to_dict(),
        "params": model.num_params(),
        "batch": batch,
        "seq_len": seq_len,
        "steps": steps,
        "compile": compile_mode,
        "dtype": dtype,
        "step_seconds": seconds,
        "tokens_per_s": tokens_per_s,
        "tflops": flops / 1e12,
        "mfu": flops / peak if peak else None,
    }
