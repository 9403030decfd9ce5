"""The metrics tables that `rasp lm train` and `rasp lm eval` print, as text.

Kept apart from the commands so that the numbers' formatting (four decimals, or scientific
notation where those would read 0.0000; exact match with its Wilson interval) is tested on
hand-built metrics without training anything.
"""

from __future__ import annotations

from typing import Any

from lm.frontier import wilson


def train_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """What `rasp lm train` prints: the run's size and cost, then its evaluation."""
    rows = [
        ("steps", f"{metrics['steps']} of {metrics['total_steps']}"),
        ("parameters", f"{metrics['params']} ({metrics['params_non_embedding']} non-embedding)"),
        (
            "tokens",
            f"{metrics['tokens']} ({metrics['epochs']:.3g} epochs; "
            f"{metrics['scored_fraction']:.0%} of tokens carry loss)",
        ),
        ("FLOPs", f"{metrics['flops_6nd']:.3g} (6ND), {metrics['flops_exact']:.3g} (exact)"),
    ]
    return rows + eval_rows(metrics)


def table(rows: list[tuple[str, str]]) -> str:
    """Labels in one column, values beside them."""
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def num(x: float) -> str:
    """Four decimals, or scientific notation where they would read 0.0000."""
    return f"{x:.4f}" if x == 0 or abs(x) >= 1e-3 else f"{x:.3g}"


def _exact(m: dict[str, Any], key: str, split: str, what: str) -> str:
    n = m.get(f"{split}_examples")
    if not n:
        return f"{m[key]:.2%} ({what})"
    k = round(m[key] * n)
    lo, hi = wilson(k, n)
    return f"{m[key]:.2%} ({k} of {n} {what}; 90% interval {lo:.1%}-{hi:.1%})"


def eval_rows(m: dict[str, Any], ngram: int = 3) -> list[tuple[str, str]]:
    """Perplexities per split, the n-gram baseline's and exact match with its interval."""
    rows = []
    splits = ["val", "test", "ngram3"] + (["long"] if "long_output_ppl" in m else [])
    for split in splits:
        label = {"ngram3": f"{ngram}-gram (test)", "long": "long"}.get(split, split)
        rows.append(
            (
                f"{label} outputs",
                f"perplexity {num(m[f'{split}_output_ppl'])}, "
                f"{num(m[f'{split}_output_bits'])} bits, "
                f"excess {num(m[f'{split}_output_excess_ppl'])}",
            )
        )
        rows.append(
            (
                f"{label} sequence",
                f"perplexity {num(m[f'{split}_sequence_ppl'])}, "
                f"{num(m[f'{split}_sequence_bits'])} bits",
            )
        )
    rows.append(("exact match", _exact(m, "exact_match", "test", "test inputs")))
    if "exact_match_long" in m:
        rows.append(("exact match long", _exact(m, "exact_match_long", "long", "longer inputs")))
    return rows


def rename_ngram(metrics: dict[str, Any], order: int) -> dict[str, Any]:
    """The table prints the baseline under `ngram3`; point it at the order asked for."""
    return {
        k.replace(f"ngram{order}_", "ngram3_"): v
        for k, v in metrics.items()
        if k.startswith(f"ngram{order}_")
    }
