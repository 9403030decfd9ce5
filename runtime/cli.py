"""`rasp bench`: throughput tables of the runtime (GEMM, attention, forward, training step).

Defaults depend on the device: small sizes on CPU so each command finishes in seconds, the
issue's full sizes on CUDA. Every command prints an 80-column table (`runtime.bench_tables`)
and, with --json, writes the figures together with the machine they came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import torch

from runtime import bench as B
from runtime.bench_tables import format_attention, format_forward, format_gemm, format_train
from runtime.device import COMPILE_MODES, pick_device

PRESETS = ("gpt2-small", "compiled", "tiny")


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, not {text!r}") from None
    if not values or min(values) <= 0:
        raise click.BadParameter(f"expected positive integers, not {text!r}")
    return values


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names or any(n not in allowed for n in names):
        raise click.BadParameter(f"choose from {', '.join(allowed)}; got {text!r}")
    return names


def _device(name: str | None, threads: int | None) -> torch.device:
    if threads is not None:
        if threads < 1:
            raise click.BadParameter(f"--threads must be positive, not {threads}")
        torch.set_num_threads(threads)
    try:
        return pick_device(name)
    except ValueError as err:
        raise click.UsageError(str(err)) from None


def _emit(
    result: dict[str, Any], table: Callable[[dict[str, Any]], str], json_path: str | None
) -> None:
    """Print a benchmark's table, and write its figures to `json_path` when given."""
    click.echo(table(result))
    _write_json(json_path, result)


def _write_json(path: str | None, result: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {path}")


def _options(timed: bool = True) -> Callable[[Callable], Callable]:
    """Options every bench command shares (--device, --threads, --peak-tflops, --json), and
    --min-time where calls are timed repeatedly."""

    def add(f: Callable) -> Callable:
        f = click.option(
            "--json",
            "json_path",
            type=click.Path(dir_okay=False),
            help="Also write the figures (and the machine) to this JSON file.",
        )(f)
        f = click.option(
            "--peak-tflops",
            type=float,
            help="Override the device's peak TFLOP/s used for %peak and MFU.",
        )(f)
        if timed:
            f = click.option(
                "--min-time",
                type=float,
                default=0.2,
                show_default=True,
                help="Seconds of timed calls per measurement.",
            )(f)
        f = click.option(
            "--threads",
            type=int,
            help="CPU threads for torch (default: torch's choice, one per core).",
        )(f)
        device = click.option("--device", help="cpu, cuda, cuda:1, ... (default: CUDA if present).")
        return device(f)

    return add


def _compile_option(help: str) -> Callable[[Callable], Callable]:
    return click.option(
        "--compile",
        "compile_mode",
        type=click.Choice(COMPILE_MODES),
        default="none",
        show_default=True,
        help=help,
    )


def run_gemm(
    device: torch.device,
    dtypes: str | None,
    sizes: str | None,
    models: str | None,
    tokens: int | None,
    min_time: float,
    peak_tflops: float | None,
) -> dict[str, Any]:
    """GEMM benchmark with device-dependent defaults (bf16 is emulated, hence slow, on CPU)."""
    cuda = device.type == "cuda"
    dtype_list = _names(dtypes or "float32,bfloat16", tuple(B.DTYPES))
    if sizes:
        size_map = {d: _ints(sizes) for d in dtype_list}
    else:
        squares = [256, 512, 1024, 2048, 4096, 8192] if cuda else [256, 512, 1024, 2048]
        size_map = {d: squares if cuda or d == "float32" else [256, 512] for d in dtype_list}
    model_names = (
        _names(models, PRESETS)
        if models
        else (["gpt2-small", "compiled"] if cuda else ["compiled"])
    )
    shapes = [
        shape
        for name in model_names
        for shape in B.model_gemm_shapes(B.preset(name), tokens or (8192 if cuda else 1024))
    ]
    return B.bench_gemm(device, dtype_list, size_map, shapes, min_time, peak_tflops)


def run_attention(
    device: torch.device,
    seq_lens: str | None,
    batch: int | None,
    heads: int,
    d_head: int,
    dtype: str | None,
    causal: bool,
    impls: str,
    min_time: float,
    peak_tflops: float | None,
) -> dict[str, Any]:
    """Attention benchmark; CPU defaults stop at 2048 tokens and one sequence."""
    cuda = device.type == "cuda"
    lens = _ints(seq_lens) if seq_lens else [64 << i for i in range(7 if cuda else 6)]
    return B.bench_attention(
        device,
        lens,
        batch or (8 if cuda else 1),
        heads,
        d_head,
        dtype or ("bfloat16" if cuda else "float32"),
        causal,
        tuple(_names(impls, ("sdpa", "math"))),
        min_time,
        peak_tflops,
    )


def run_forward(
    device: torch.device,
    d_model: int,
    layers: int,
    heads: int,
    seq_len: int,
    batches: str | None,
    chunk: int | None,
    compile_mode: str,
    min_time: float,
    peak_tflops: float | None,
) -> dict[str, Any]:
    """Forward benchmark; on CUDA up to 65,536 sequences in chunks of 16,384."""
    cuda = device.type == "cuda"
    sizes = (
        _ints(batches) if batches else ([1, 16, 256, 4096, 65536] if cuda else [1, 16, 256, 1024])
    )
    config = B.compiled_config(d_model, layers, seq_len, heads)
    return B.bench_forward(
        device,
        config,
        seq_len,
        sizes,
        chunk or (16384 if cuda else 1024),
        compile_mode,
        min_time,
        peak_tflops,
    )


def run_train(
    device: torch.device,
    preset_name: str | None,
    batch: int | None,
    seq_len: int | None,
    steps: int | None,
    compile_mode: str,
    peak_tflops: float | None,
) -> dict[str, Any]:
    """Training benchmark: GPT-2 small on CUDA, the tiny preset on CPU unless told otherwise."""
    cuda = device.type == "cuda"
    config = B.preset(preset_name or ("gpt2-small" if cuda else "tiny"))
    return B.bench_train(
        device,
        config,
        batch or (16 if cuda else 8),
        seq_len or config.max_seq_len,
        steps or (10 if cuda else 3),
        compile_mode,
        peak_tflops,
    )


@click.group()
def bench() -> None:
    """Measure the runtime: GEMM, attention, forward and training throughput."""


@bench.command()
@click.option(
    "--dtype",
    "dtypes",
    help="Comma-separated: float32,bfloat16,float16 [default: float32,bfloat16].",
)
@click.option(
    "--sizes",
    help="Square sizes, comma-separated [default: 256..8192 on CUDA, "
    "256..2048 on CPU (bf16: 256,512)].",
)
@click.option(
    "--model",
    "models",
    help="Also the GEMMs of these presets: gpt2-small, "
    "compiled, tiny [default: gpt2-small,compiled on CUDA, compiled on CPU].",
)
@click.option(
    "--tokens",
    type=int,
    help="Rows M of the model GEMMs (batch x length) [default: 8192 on CUDA, 1024 on CPU].",
)
@_options()
def gemm(device: str | None, threads: int | None, json_path: str | None, **kw: Any) -> None:
    """Achieved TFLOP/s, arithmetic intensity and roofline bound of GEMMs (TF32 off)."""
    _emit(run_gemm(_device(device, threads), **kw), format_gemm, json_path)


@bench.command()
@click.option("--seq-lens", help="Comma-separated [default: 64..4096 on CUDA, 64..2048 on CPU].")
@click.option("--batch", type=int, help="[default: 8 on CUDA, 1 on CPU]")
@click.option("--heads", type=int, default=12, show_default=True)
@click.option("--d-head", type=int, default=64, show_default=True)
@click.option(
    "--dtype", type=click.Choice(list(B.DTYPES)), help="[default: bfloat16 on CUDA, float32 on CPU]"
)
@click.option("--causal/--bidirectional", default=True, show_default=True)
@click.option(
    "--impl",
    "impls",
    default="sdpa,math",
    show_default=True,
    help="Implementations to compare: sdpa, math.",
)
@_options()
def attention(device: str | None, threads: int | None, json_path: str | None, **kw: Any) -> None:
    """Tokens/s and FLOP/s of attention, SDPA against the plain-matmul path."""
    _emit(run_attention(_device(device, threads), **kw), format_attention, json_path)


@bench.command()
@click.option("--d-model", type=int, default=256, show_default=True)
@click.option("--layers", type=int, default=4, show_default=True)
@click.option("--heads", type=int, default=4, show_default=True)
@click.option("--seq-len", type=int, default=32, show_default=True)
@click.option(
    "--batches",
    help="Comma-separated [default: 1,16,256,4096,65536 on CUDA, 1,16,256,1024 on CPU].",
)
@click.option(
    "--chunk", type=int, help="Most sequences per call [default: 16384 on CUDA, 1024 on CPU]."
)
@_compile_option("torch.compile mode; reduce-overhead adds CUDA graphs.")
@_options()
def forward(device: str | None, threads: int | None, json_path: str | None, **kw: Any) -> None:
    """Sequences/s of a compiled-program-sized model's float32 forward, per batch size."""
    _emit(run_forward(_device(device, threads), **kw), format_forward, json_path)


@bench.command()
@click.option(
    "--preset",
    "preset_name",
    type=click.Choice(PRESETS),
    help="Model shape [default: gpt2-small on CUDA, tiny on CPU].",
)
@click.option("--batch", type=int, help="[default: 16 on CUDA, 8 on CPU]")
@click.option("--seq-len", type=int, help="[default: the preset's max_seq_len]")
@click.option("--steps", type=int, help="Timed steps [default: 10 on CUDA, 3 on CPU].")
@_compile_option("torch.compile mode.")
@_options(timed=False)
def train(device: str | None, threads: int | None, json_path: str | None, **kw: Any) -> None:
    """Tokens/s and MFU of AdamW training steps (bf16 autocast on CUDA)."""
    _emit(run_train(_device(device, threads), **kw), format_train, json_path)


@bench.command(name="all")
@_options()
@_compile_option("torch.compile mode for the forward and train runs.")
def all_(device, threads, min_time, peak_tflops, compile_mode, json_path) -> None:
    """Every benchmark with the device's default sizes."""
    dev = _device(device, threads)
    results = {}
    results["gemm"] = run_gemm(dev, None, None, None, None, min_time, peak_tflops)
    click.echo(format_gemm(results["gemm"]) + "\n")
    results["attention"] = run_attention(
        dev, None, None, 12, 64, None, True, "sdpa,math", min_time, peak_tflops
    )
    click.echo(format_attention(results["attention"]) + "\n")
    results["forward"] = run_forward(
        dev, 256, 4, 4, 32, None, None, compile_mode, min_time, peak_tflops
    )
    click.echo(format_forward(results["forward"]) + "\n")
    results["train"] = run_train(dev, None, None, None, None, compile_mode, peak_tflops)
    click.echo(format_train(results["train"]))
    _write_json(json_path, results)
