"""The 80-column tables `rasp bench` prints from the figures `runtime.bench` measures (the
same dicts its --json writes, so a saved result can be printed again)."""

from __future__ import annotations

from typing import Any

SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _header(info: dict[str, Any]) -> str:
    peaks = ", ".join(f"{SHORT.get(k, k)} {v / 1e12:.4g}" for k, v in info["peak_flops"].items())
    return (
        f"device: {info['name']}, load average {info['loadavg']:.1f}\n"
        f"peak TFLOP/s: {peaks or 'unknown'} ({info['source']})"
    )


def format_gemm(result: dict[str, Any]) -> str:
    """The GEMM table, then the ridge point that separates memory- from compute-bound shapes."""
    info = result["machine"]
    lines = [
        _header(info),
        f"memory bandwidth (measured copy): {info['bandwidth_measured'] / 1e9:.1f} GB/s",
        f"{'GEMM':<12} {'MxNxK':>15} {'type':<4} {'ms':>9} {'TFLOP/s':>8} {'FLOP/B':>7} "
        f"{'%peak':>6} bound",
    ]
    for r in result["rows"]:
        shape = f"{r['M']}x{r['N']}x{r['K']}"
        lines.append(
            f"{r['name']:<12} {shape:>15} {SHORT[r['dtype']]:<4} "
            f"{r['seconds'] * 1e3:>9.3f} {_num(r['tflops']):>8} {r['intensity']:>7.1f} "
            f"{_pct(r['frac_peak']):>6} {r['bound'] or '-'}"
        )
    for dtype in dict.fromkeys(r["dtype"] for r in result["rows"]):
        ridge = next(r["ridge"] for r in result["rows"] if r["dtype"] == dtype)
        if ridge is not None:
            lines.append(
                f"{SHORT[dtype]} ridge point {ridge:.1f} FLOP/B = peak / bandwidth: "
                "memory-bound below"
            )
    return "\n".join(lines)


def format_attention(result: dict[str, Any]) -> str:
    """Per sequence length, each implementation's time, tokens/s and FLOP/s."""
    lines = [
        _header(result["machine"]),
        f"attention: batch {result['batch']}, {result['n_heads']} heads x {result['d_head']}, "
        f"{SHORT[result['dtype']]}, {'causal' if result['causal'] else 'bidirectional'}",
        f"{'impl':<5} {'T':>6} {'ms':>10} {'tokens/s':>11} {'TFLOP/s':>8} {'%peak':>6} "
        f"{'vs math':>7}",
    ]
    math = {r["seq_len"]: r["seconds"] for r in result["rows"] if r["impl"] == "math"}
    for r in result["rows"]:
        speedup = f"{math[r['seq_len']] / r['seconds']:.2f}x" if r["seq_len"] in math else "-"
        lines.append(
            f"{r['impl']:<5} {r['seq_len']:>6} {r['seconds'] * 1e3:>10.3f} "
            f"{r['tokens_per_s']:>11.4g} {_num(r['tflops']):>8} "
            f"{_pct(r['frac_peak']):>6} {speedup:>7}"
        )
    return "\n".join(lines)


def format_forward(result: dict[str, Any]) -> str:
    """Per batch size, the time and sequences/s of the whole batched forward."""
    c = result["config"]
    lines = [
        _header(result["machine"]),
        f"forward: d_model {c['d_model']}, {len(c['layers'])} layers, length "
        f"{result['seq_len']}, {result['params'] / 1e6:.2f}M params, fp32",
        f"chunk {result['chunk']} sequences per call, compile {result['compile']}",
        f"{'batch':>7} {'ms':>11} {'seq/s':>11} {'tokens/s':>11} {'TFLOP/s':>8}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['batch']:>7} {r['seconds'] * 1e3:>11.3f} {r['seq_per_s']:>11.4g} "
            f"{r['tokens_per_s']:>11.4g} {_num(r['tflops']):>8}"
        )
    return "\n".join(lines)


def format_train(result: dict[str, Any]) -> str:
    """One line of training throughput and model FLOP utilisation."""
    c = result["config"]
    return "\n".join(
        [
            _header(result["machine"]),
            f"train: d_model {c['d_model']}, {len(c['layers'])} layers, vocab {c['vocab_size']}, "
            f"{result['params'] / 1e6:.1f}M params",
            f"batch {result['batch']} x {result['seq_len']} tokens, {SHORT[result['dtype']]}, "
            f"compile {result['compile']}",
            f"step {result['step_seconds'] * 1e3:.1f} ms, {result['tokens_per_s']:.4g} tokens/s, "
            f"{result['tflops']:.4g} TFLOP/s, MFU {_pct(result['mfu'])}",
        ]
    )
