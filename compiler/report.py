"""The compile report: which source expression became which head or MLP, layer by layer.

Each stored value gets two lines: what it is, where its residual dimensions are and the source
location; then its expression (and a head's selector), cut to fit the terminal."""

from __future__ import annotations

import shutil
from typing import Any

from compiler.manifest import Embedding, HeadValue, Manifest, Value


def plan_text(manifest: Manifest, columns: int | None = None) -> str:
    columns = columns or shutil.get_terminal_size((80, 24)).columns
    lines: list[str] = []

    def block(kind: str, v: Value, what: str) -> None:
        dims = f"[{v.dims[0]}:{v.dims[1]}]"
        head = f"  {kind:<4} {dims:<9} {v.role:<30} {v.where}".rstrip()
        lines.append(_fit(head, columns))
        lines.append(_fit(f"       {what}", columns))

    embedded = [v for v in manifest.layout if isinstance(v, Embedding)]
    width = 2 + sum(v.width for v in embedded)
    lines.append(f"embedding: residual width {width}")
    for v in embedded:
        block("emb", v, v.label)
    for layer in manifest.layers:
        blocks = manifest.blocks(layer.index)
        width += sum(b.width for b in blocks)
        lines.append(
            f"layer {layer.index}: {layer.heads} head(s) of width "
            f"{layer.d_head}, MLP hidden {layer.mlp_hidden}; residual width "
            f"{width}"
        )
        for b in blocks:
            if isinstance(b, HeadValue):
                block("head", b, f"{b.label}  <- {b.selector}")
            else:
                block("mlp", b, f"{b.label}  ({b.hidden} units)")
    out = manifest.output
    lines.append(f"output: {out.label} ({out.encoding})")
    s = manifest.stats
    lines.append(
        f"stats: layers {s.layers}, heads {s.heads}, d_model {s.d_model}, "
        f"mlp_hidden {s.mlp_hidden}, params {s.params:,}"
    )
    return "\n".join(lines)


def _fit(text: str, columns: int) -> str:
    return text if len(text) <= columns else text[: max(columns - 1, 20)] + "…"


def plan_json(manifest: Manifest) -> list[dict[str, Any]]:
    """The layer-by-layer plan as `rasp compile --json` prints it."""
    out = []
    for layer in manifest.layers:
        blocks = []
        for b in manifest.blocks(layer.index):
            d: dict[str, Any] = {
                "node": b.label,
                "where": b.where,
                "role": b.role,
                "dims": list(b.dims),
            }
            if isinstance(b, HeadValue):
                d.update(selector=b.selector, d_qk=b.d_qk)
            else:
                d["hidden"] = b.hidden
            blocks.append(d)
        out.append(
            {
                "layer": layer.index,
                "heads": layer.heads,
                "d_head": layer.d_head,
                "mlp_hidden": layer.mlp_hidden,
                "blocks": blocks,
            }
        )
    return out
