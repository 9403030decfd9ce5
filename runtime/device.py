"""Devices and numeric precision: where a model runs and how exactly it computes.

Compiled RASP models need exact float32 arithmetic (TF32 would round matmul inputs to 10 mantissa
bits and break near-hard attention), while training wants bf16 autocast on CUDA. Both are
expressed here as context managers so the choice is explicit at each call site.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

DEVICE_ENV = "RASPC_DEVICE"
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """The device to run on: `name` if given, else $RASPC_DEVICE, else CUDA when present, else CPU.

    Asking for CUDA on a machine without it is a ValueError, not a silent fall-back to the CPU.
    """
    if name is None:
        name = os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {str(name)!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(name)!r} requested but CUDA is not available here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(name)!r} requested but MPS is not available here")
    return device


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Run float32 matmuls and convolutions in full IEEE precision (TF32 off), then restore."""
    matmul = torch.get_float32_matmul_precision()
    cudnn = torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run torch's CPU ops on `n` intra-op threads (None: leave as is), then restore."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# glibc's mallopt parameters (malloc.h), and what `keep_freed_memory` sets them to.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_BELOW, _TRIM_ABOVE = 64 << 20, 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve blocks under 64 MiB from its heap and to keep up to 256 MiB
    of freed heap for reuse, instead of handing the pages back to the kernel. A forward
    allocates its activations afresh on every call, and by default their pages were mapped
    again each time: 2,100 page faults per reverse@32 batch of 1,024 and 1.5x its CPU time.
    Process-wide, as malloc's settings are (the process keeps at most 256 MiB it does not
    use); done once. False where the C library is not glibc."""
    if platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_BELOW)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)
    )


def autocast(
    device: torch.device, dtype: torch.dtype = torch.bfloat16
) -> contextlib.AbstractContextManager:
    """Mixed-precision autocast for training on CUDA; a no-op on other devices.

    bf16 autocast on CPU is slower than float32 on most CPUs, so the CPU keeps float32.
    """
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued work on `device` (needed before reading a wall clock on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def maybe_compile(model: nn.Module, mode: str = "none") -> nn.Module:
    """`torch.compile` the model when `mode` is not 'none'; the eager module otherwise.

    'reduce-overhead' also captures CUDA graphs, which pays off for small batches where kernel
    launch latency dominates.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}, not {mode!r}")
    if mode == "none":
        return model
    return cast(nn.Module, torch.compile(model, mode=mode))  # typed as any callable


@dataclass(frozen=True)
class DeviceSpec:
    """Nominal dense peak throughput and memory bandwidth of a device, for roofline figures."""

    name: str
    peak_flops: dict[str, float]  # dtype name ('float32', 'bfloat16') -> FLOP/s
    bandwidth: float | None  # bytes/s of main memory (HBM on GPUs), None where unknown
    source: str


# Dense (no sparsity) datasheet figures. float32 is the non-tensor-core rate: TF32 is off for
# exactness. Order matters: the first substring found in the device name wins.
_GPU_SPECS: tuple[tuple[str, dict[str, float], float], ...] = (
    ("H200", {"float32": 66.9e12, "bfloat16": 989.4e12, "float16": 989.4e12}, 4.8e12),
    ("H100 PCIe", {"float32": 51.2e12, "bfloat16": 756.5e12, "float16": 756.5e12}, 2.0e12),
    ("H100 NVL", {"float32": 60.0e12, "bfloat16": 835.5e12, "float16": 835.5e12}, 3.9e12),
    ("H100", {"float32": 66.9e12, "bfloat16": 989.4e12, "float16": 989.4e12}, 3.35e12),
    ("A100", {"float32": 19.5e12, "bfloat16": 312.0e12, "float16": 312.0e12}, 2.0e12),
)


def device_name(device: torch.device) -> str:
    """A human-readable name of the device: the GPU model, or the CPU model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    return f"{model} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def _cpu_peak(n: int = 1024, reps: int = 5) -> float:
    """float32 FLOP/s of this CPU at torch's thread count, measured rather than assumed: the
    best of `reps` n^3 GEMMs, in FLOPs per CPU-second of one thread times the threads (CPU time,
    so that other jobs on a shared machine do not read as a slow CPU). A nominal estimate from
    clock x FMA width read 2x too high on a 2-core Xeon (turbo and AVX-512 clocks differ)."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    best = float("inf")
    with exact_fp32():
        a @ b  # warm-up
        for _ in range(reps):
            t0 = time.process_time()
            a @ b
            best = min(best, time.process_time() - t0)
    threads = torch.get_num_threads()
    return 2 * n**3 / max(best / threads, 1e-9) if best > 0 else 2 * n**3 / 1e-9


def device_spec(device: torch.device, peak_tflops: float | None = None) -> DeviceSpec:
    """Peak FLOP/s and bandwidth for `device`; `peak_tflops` overrides the peak for every dtype."""
    name = device_name(device)
    if device.type == "cuda":
        for key, peaks, bandwidth in _GPU_SPECS:
            if key in name:
                spec = DeviceSpec(name, dict(peaks), bandwidth, f"datasheet ({key})")
                break
        else:
            spec = DeviceSpec(name, {}, None, "unknown GPU")
    else:
        peak = _cpu_peak()
        peaks = {"float32": peak, "bfloat16": peak}
        spec = DeviceSpec(name, peaks, None, "measured: best float32 GEMM 1024^3")
    if peak_tflops is not None:
        peaks = {k: peak_tflops * 1e12 for k in ("float32", "bfloat16", "float16")}
        spec = DeviceSpec(name, peaks, spec.bandwidth, "--peak-tflops")
    return spec
