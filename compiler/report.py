"""The compile report: which source expression became which head or MLP, layer by layer."""

from __future__ import annotations

from typing import Any


def plan_text(manifest: dict[str, Any]) -> str:
    lines = []
    embedded = [e for e in manifest["layout"] if e.get("sublayer") == "embedding"]
    width = 2 + sum(e["dims"][1] - e["dims"][0] for e in embedded)
    lines.append(f"embedding: residual width {width}")
    for e in embedded:
        lines.append(f"  {e['role']:<22} {_name(e)}  [{e['dims'][0]}:{e['dims'][1]}]")
    for layer in manifest["plan"]:
        for b in layer["blocks"]:
            width += b["dims"][1] - b["dims"][0]
        lines.append(f"layer {layer['layer']}: {layer['heads']} head(s) of width "
                     f"{layer['d_head']}, MLP hidden {layer['mlp_hidden']}; residual width "
                     f"{width}")
        for b in layer["blocks"]:
            if "selector" in b:
                what = f"head  {b['role']:<28} {b['node']}  <- {b['selector']}"
            else:
                what = f"mlp   {b['role']:<28} {b['node']}  ({b['hidden']} units)"
            lines.append(f"  {what}  [{b['dims'][0]}:{b['dims'][1]}]  {b['where']}")
    out = manifest["output"]
    lines.append(f"output: {out['node']} ({out['encoding']})")
    s = manifest["stats"]
    lines.append(f"stats: layers {s['layers']}, heads {s['heads']}, d_model {s['d_model']}, "
                 f"mlp_hidden {s['mlp_hidden']}, params {s['params']:,}")
    return "\n".join(lines)


def _name(e: dict[str, Any]) -> str:
    where = f"  {e['where']}" if e.get("where") else ""
    return f"{e['node']}{where}"
