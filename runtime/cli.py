"""`rasp bench`: throughput tables of the runtime (GEMM, attention, forward, training step).

Defaults depend on the device: small sizes on CPU so each command finishes in seconds, the
issue's full sizes on CUDA. Every command prints an 80-column table and, with --json, writes the
figures together with the machine they came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch

from runtime import bench as B
from runtime.device import COMPILE_MODES, pick_device

SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
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


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _header(info: dict[str, Any]) -> str:
    peaks = ", ".join(f"{SHORT.get(k, k)} {v / 1e12:.4g}" for k, v in info["peak_flops"].items())
    return (f"device: {info['name']}, load average {info['loadavg']:.1f}\n"
            f"peak TFLOP/s: {peaks or 'unknown'} ({info['source']})")


def _write_json(path: str | None, result: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"wrote {path}")


def format_gemm(result: dict[str, Any]) -> str:
    """The GEMM table, then the ridge point that separates memory- from compute-bound shapes."""
    info = result["machine"]
    lines = [_header(info),
             f"memory bandwidth (measured copy): {info['bandwidth_measured'] / 1e9:.1f} GB/s",
             f"{'GEMM':<12} {'MxNxK':>15} {'type':<4} {'ms':>9} {'TFLOP/s':>8} {'FLOP/B':>7} "
             f"{'%peak':>6} bound"]
    for r in result["rows"]:
        shape = f"{r['M']}x{r['N']}x{r['K']}"
        lines.append(f"{r['name']:<12} {shape:>15} {SHORT[r['dtype']]:<4} "
                     f"{r['seconds'] * 1e3:>9.3f} {_num(r['tflops']):>8} {r['intensity']:>7.1f} "
                     f"{_pct(r['frac_peak']):>6} {r['bound'] or '-'}")
    for dtype in dict.fromkeys(r["dtype"] for r in result["rows"]):
        ridge = next(r["ridge"] for r in result["rows"] if r["dtype"] == dtype)
        if ridge is not None:
            lines.append(f"{SHORT[dtype]} ridge point {ridge:.1f} FLOP/B = peak / bandwidth: "
                         "memory-bound below")
    return "\n".join(lines)


def format_attention(result: dict[str, Any]) -> str:
    """Per sequence length, each implementation's time, tokens/s and FLOP/s."""
    lines = [_header(result["machine"]),
             f"attention: batch {result['batch']}, {result['n_heads']} heads x {result['d_head']}, "
             f"{SHORT[result['dtype']]}, {'causal' if result['causal'] else 'bidirectional'}",
             f"{'impl':<5} {'T':>6} {'ms':>10} {'tokens/s':>11} {'TFLOP/s':>8} {'%peak':>6} "
             f"{'vs math':>7}"]
    math = {r["seq_len"]: r["seconds"] for r in result["rows"] if r["impl"] == "math"}
    for r in result["rows"]:
        speedup = f"{math[r['seq_len']] / r['seconds']:.2f}x" if r["seq_len"] in math else "-"
        lines.append(f"{r['impl']:<5} {r['seq_len']:>6} {r['seconds'] * 1e3:>10.3f} "
                     f"{r['tokens_per_s']:>11.4g} {_num(r['tflops']):>8} "
                     f"{_pct(r['frac_peak']):>6} {speedup:>7}")
    return "\n".join(lines)


def format_forward(result: dict[str, Any]) -> str:
    """Per batch size, the time and sequences/s of the whole batched forward."""
    c = result["config"]
    lines = [_header(result["machine"]),
             f"forward: d_model {c['d_model']}, {len(c['layers'])} layers, length "
             f"{result['seq_len']}, {result['params'] / 1e6:.2f}M params, fp32",
             f"chunk {result['chunk']} sequences per call, compile {result['compile']}",
             f"{'batch':>7} {'ms':>11} {'seq/s':>11} {'tokens/s':>11} {'TFLOP/s':>8}"]
    for r in result["rows"]:
        lines.append(f"{r['batch']:>7} {r['seconds'] * 1e3:>11.3f} {r['seq_per_s']:>11.4g} "
                     f"{r['tokens_per_s']:>11.4g} {_num(r['tflops']):>8}")
    return "\n".join(lines)


def format_train(result: dict[str, Any]) -> str:
    """One line of training throughput and model FLOP utilisation."""
    c = result["config"]
    return "\n".join([
        _header(result["machine"]),
        f"train: d_model {c['d_model']}, {len(c['layers'])} layers, vocab {c['vocab_size']}, "
        f"{result['params'] / 1e6:.1f}M params",
        f"batch {result['batch']} x {result['seq_len']} tokens, {SHORT[result['dtype']]}, "
        f"compile {result['compile']}",
        f"step {result['step_seconds'] * 1e3:.1f} ms, {result['tokens_per_s']:.4g} tokens/s, "
        f"{result['tflops']:.4g} TFLOP/s, MFU {_pct(result['mfu'])}",
    ])


def _options(f):
    """Options every bench command shares."""
    f = click.option("--json", "json_path", type=click.Path(dir_okay=False),
                     help="Also write the figures (and the machine) to this JSON file.")(f)
    f = click.option("--peak-tflops", type=float,
                     help="Override the device's peak TFLOP/s used for %peak and MFU.")(f)
    f = click.option("--min-time", type=float, default=0.2, show_default=True,
                     help="Seconds of timed calls per measurement.")(f)
    return _device_options(f)


def _device_options(f):
    """--device and --threads."""
    f = click.option("--threads", type=int,
                     help="CPU threads for torch (default: torch's choice, one per core).")(f)
    return click.option("--device", help="cpu, cuda, cuda:1, ... (default: CUDA if present).")(f)


def run_gemm(device: torch.device, dtypes: str | None, sizes: str | None, models: str | None,
             tokens: int | None, min_time: float, peak_tflops: float | None) -> dict[str, Any]:
    """GEMM benchmark with device-dependent defaults (bf16 is emulated, hence slow, on CPU)."""
    cuda = device.type == "cuda"
    dtype_list = _names(dtypes or "float32,bfloat16", tuple(B.DTYPES))
    if sizes:
        size_map = {d: _ints(sizes) for d in dtype_list}
    else:
        squares = [256, 512, 1024, 2048, 4096, 8192] if cuda else [256, 512, 1024, 2048]
        size_map = {d: squares if cuda or d == "float32" else [256, 512] for d in dtype_list}
    model_names = _names(models, PRESETS) if models else (
        ["gpt2-small", "compiled"] if cuda else ["compiled"])
    shapes = [shape for name in model_names
              for shape in B.model_gemm_shapes(B.preset(name), tokens or (8192 if cuda else 1024))]
    return B.bench_gemm(device, dtype_list, size_map, shapes, min_time, peak_tflops)


def run_attention(device: torch.device, seq_lens: str | None, batch: int | None, heads: int,
                  d_head: int, dtype: str | None, causal: bool, impls: str, min_time: float,
                  peak_tflops: float | None) -> dict[str, Any]:
    """Attention benchmark; CPU defaults stop at 2048 tokens and one sequence."""
    cuda = device.type == "cuda"
    lens = _ints(seq_lens) if seq_lens else [64 << i for i in range(7 if cuda else 6)]
    return B.bench_attention(device, lens, batch or (8 if cuda else 1), heads, d_head,
                             dtype or ("bfloat16" if cuda else "float32"), causal,
                             tuple(_names(impls, ("sdpa", "math"))), min_time, peak_tflops)


def run_forward(device: torch.device, d_model: int, layers: int, heads: int, seq_len: int,
                batches: str | None, chunk: int | None, compile_mode: str, min_time: float,
                peak_tflops: float | None) -> dict[str, Any]:
    """Forward benchmark; on CUDA up to 65,536 sequences in chunks of 16,384."""
    cuda = device.type == "cuda"
    sizes = _ints(batches) if batches else ([1, 16, 256, 4096, 65536] if cuda
                                             else [1, 16, 256, 1024])
    config = B.compiled_config(d_model, layers, seq_len, heads)
    return B.bench_forward(device, config, seq_len, sizes, chunk or (16384 if cuda else 1024),
                           compile_mode, min_time, peak_tflops)


def run_train(device: torch.device, preset_name: str | None, batch: int | None,
              seq_len: int | None, steps: int | None, compile_mode: str,
              peak_tflops: float | None) -> dict[str, Any]:
    """Training benchmark: GPT-2 small on CUDA, the tiny preset on CPU unless told otherwise."""
    cuda = device.type == "cuda"
    config = B.preset(preset_name or ("gpt2-small" if cuda else "tiny"))
    return B.bench_train(device, config, batch or (16 if cuda else 8),
                         seq_len or config.max_seq_len, steps or (10 if cuda else 3),
                         compile_mode, peak_tflops)


@click.group()
def bench() -> None:
    """Measure the runtime: GEMM, attention, forward and training throughput."""


@bench.command()
@click.option("--dtype", "dtypes", help="Comma-separated: float32,bfloat16,float16 "
              "[default: float32,bfloat16].")
@click.option("--sizes", help="Square sizes, comma-separated [default: 256..8192 on CUDA, "
              "256..2048 on CPU (bf16: 256,512)].")
@click.option("--model", "models", help="Also the GEMMs of these presets: gpt2-small, "
              "compiled, tiny [default: gpt2-small,compiled on CUDA, compiled on CPU].")
@click.option("--tokens", type=int, help="Rows M of the model GEMMs (batch x length) "
              "[default: 8192 on CUDA, 1024 on CPU].")
@_options
def gemm(dtypes, sizes, models, tokens, device, threads, min_time, peak_tflops,
         json_path) -> None:
    """Achieved TFLOP/s, arithmetic intensity and roofline bound of GEMMs (TF32 off)."""
    result = run_gemm(_device(device, threads), dtypes, sizes, models, tokens, min_time,
                      peak_tflops)
    click.echo(format_gemm(result))
    _write_json(json_path, result)


@bench.command()
@click.option("--seq-lens", help="Comma-separated [default: 64..4096 on CUDA, 64..2048 on CPU].")
@click.option("--batch", type=int, help="[default: 8 on CUDA, 1 on CPU]")
@click.option("--heads", type=int, default=12, show_default=True)
@click.option("--d-head", type=int, default=64, show_default=True)
@click.option("--dtype", type=click.Choice(list(B.DTYPES)),
              help="[default: bfloat16 on CUDA, float32 on CPU]")
@click.option("--causal/--bidirectional", default=True, show_default=True)
@click.option("--impl", "impls", default="sdpa,math", show_default=True,
              help="Implementations to compare: sdpa, math.")
@_options
def attention(seq_lens, batch, heads, d_head, dtype, causal, impls, device, threads, min_time,
              peak_tflops, json_path) -> None:
    """Tokens/s and FLOP/s of attention, SDPA against the plain-matmul path."""
    result = run_attention(_device(device, threads), seq_lens, batch, heads, d_head, dtype, causal,
                           impls, min_time, peak_tflops)
    click.echo(format_attention(result))
    _write_json(json_path, result)


@bench.command()
@click.option("--d-model", type=int, default=256, show_default=True)
@click.option("--layers", type=int, default=4, show_default=True)
@click.option("--heads", type=int, default=4, show_default=True)
@click.option("--seq-len", type=int, default=32, show_default=True)
@click.option("--batches", help="Comma-separated [default: 1,16,256,4096,65536 on CUDA, "
              "1,16,256,1024 on CPU].")
@click.option("--chunk", type=int, help="Most sequences per call [default: 16384 on CUDA, "
              "1024 on CPU].")
@click.option("--compile", "compile_mode", type=click.Choice(COMPILE_MODES), default="none",
              show_default=True, help="torch.compile mode; reduce-overhead adds CUDA graphs.")
@_options
def forward(d_model, layers, heads, seq_len, batches, chunk, compile_mode, device, threads,
            min_time, peak_tflops, json_path) -> None:
    """Sequences/s of a compiled-program-sized model's float32 forward, per batch size."""
    result = run_forward(_device(device, threads), d_model, layers, heads, seq_len, batches, chunk,
                         compile_mode, min_time, peak_tflops)
    click.echo(format_forward(result))
    _write_json(json_path, result)


@bench.command()
@click.option("--preset", "preset_name", type=click.Choice(PRESETS),
              help="Model shape [default: gpt2-small on CUDA, tiny on CPU].")
@click.option("--batch", type=int, help="[default: 16 on CUDA, 8 on CPU]")
@click.option("--seq-len", type=int, help="[default: the preset's max_seq_len]")
@click.option("--steps", type=int, help="Timed steps [default: 10 on CUDA, 3 on CPU].")
@click.option("--compile", "compile_mode", type=click.Choice(COMPILE_MODES), default="none",
              show_default=True)
@_device_options
@click.option("--peak-tflops", type=float, help="Override the peak TFLOP/s used for MFU.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write the figures to this JSON file.")
def train(preset_name, batch, seq_len, steps, compile_mode, device, threads, peak_tflops,
          json_path) -> None:
    """Tokens/s and MFU of AdamW training steps (bf16 autocast on CUDA)."""
    result = run_train(_device(device, threads), preset_name, batch, seq_len, steps, compile_mode,
                       peak_tflops)
    click.echo(format_train(result))
    _write_json(json_path, result)


@bench.command(name="all")
@_device_options
@click.option("--min-time", type=float, default=0.2, show_default=True,
              help="Seconds of timed calls per measurement.")
@click.option("--peak-tflops", type=float, help="Override the device's peak TFLOP/s.")
@click.option("--compile", "compile_mode", type=click.Choice(COMPILE_MODES), default="none",
              show_default=True, help="torch.compile mode for the forward and train runs.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write every result into this one JSON file.")
def all_(device, threads, min_time, peak_tflops, compile_mode, json_path) -> None:
    """Every benchmark with the device's default sizes."""
    dev = _device(device, threads)
    results = {}
    results["gemm"] = run_gemm(dev, None, None, None, None, min_time, peak_tflops)
    click.echo(format_gemm(results["gemm"]) + "\n")
    results["attention"] = run_attention(dev, None, None, 12, 64, None, True, "sdpa,math",
                                         min_time, peak_tflops)
    click.echo(format_attention(results["attention"]) + "\n")
    results["forward"] = run_forward(dev, 256, 4, 4, 32, None, None, compile_mode, min_time,
                                     peak_tflops)
    click.echo(format_forward(results["forward"]) + "\n")
    results["train"] = run_train(dev, None, None, None, None, compile_mode, peak_tflops)
    click.echo(format_train(results["train"]))
    _write_json(json_path, results)
