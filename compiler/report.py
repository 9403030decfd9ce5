"""The compile report: which source expression became which head or MLP, layer by layer.

Each stored value gets two lines: what it is, where its residual dimensions are and the source
location; then its expression (and a head's selector), cut to fit the terminal."""

from __future__ import annotations

import shutil
from typing import Any


def plan_text(manifest: dict[str, Any], columns: int | None = None) -> str:
    columns = columns or shutil.get_terminal_size((80, 24)).columns
    lines: list[str] = []

    def block(kind: str, b: dict[str, Any], what: str) -> None:
        dims = f"[{b['dims'][0]}:{b['dims'][1]}]"
        head = f"  {kind:<4} {dims:<9} {b['role']:<30} {b.get('where') or ''}".rstrip()
        lines.append(_fit(head, columns))
        lines.append(_fit(f"       {what}", columns))

    embedded = [e for e in manifest["layout"] if e.get("sublayer") == "embedding"]
    width = 2 + sum(e["dims"][1] - e["dims"][0] for e in embedded)
    lines.append(f"embedding: residual width {width}")
    for e in embedded:
        block("emb", e, e["node"])
    for layer in manifest["plan"]:
        for b in layer["blocks"]:
            width += b["dims"][1] - b["dims"][0]
        lines.append(f"layer {layer['layer']}: {layer['heads']} head(s) of width "
                     f"{layer['d_head']}, MLP hidden {layer['mlp_hidden']}; residual width "
                     f"{width}")
        for b in layer["blocks"]:
            if "selector" in b:
                block("head", b, f"{b['node']}  <- {b['selector']}")
            else:
                block("mlp", b, f"{b['node']}  ({b['hidden']} units)")
    out = manifest["output"]
    lines.append(f"output: {out['node']} ({out['encoding']})")
    s = manifest["stats"]
    lines.append(f"stats: layers {s['layers']}, heads {s['heads']}, d_model {s['d_model']}, "
                 f"mlp_hidden {s['mlp_hidden']}, params {s['params']:,}")
    return "\n".join(lines)


def _fit(text: str, columns: int) -> str:
    return text if len(text) <= columns else text[:max(columns - 1, 20)] + "…"
