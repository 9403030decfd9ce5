"""Reading version 1 manifests (model files written before the manifest had a version).

Version 1 named encodings 'cat'/'num' in the layout, kept a head's selector and an MLP's
width only in per-layer plan blocks, called the longest input `max_seq_len` and saved
process-local IR ids, which name nothing in another process: they are dropped, so such a
file runs and prints its plan, but the tools cannot tie its values to program nodes.
"""

from __future__ import annotations

from typing import Any

ENCODINGS_V1 = {"cat": "categorical", "num": "numerical"}


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """A version 1 manifest (a JSON dict) as version 2 reads it; KeyError/TypeError/ValueError
    where it is damaged."""
    vocab = d["vocab"]
    if isinstance(vocab, list) and d.get("bos", len(vocab)) != len(vocab):
        raise ValueError(f"BOS id {d['bos']!r} is not one past the vocabulary")
    blocks = iter([b for layer in d["plan"] for b in layer["blocks"]])  # the layout's order
    layout = []
    for e in d["layout"]:
        entry = {k: e[k] for k in ("node", "kind", "dims")}
        if e["kind"] in ("constant", "bos"):
            entry.update(encoding="numerical", layer=-1)
        else:
            entry.update(
                {k: e.get(k) for k in ("layer", "where", "text", "role", "proj", "base", "values")}
            )
            entry["encoding"] = ENCODINGS_V1[e["encoding"]]
            if e["kind"] in ("head", "mlp"):
                block = next(blocks)
                if list(block["dims"]) != list(e["dims"]):
                    raise ValueError(
                        f"plan block {block['node']!r} is not layout entry {e['node']!r}"
                    )
                if e["kind"] == "head":
                    entry.update(selector=block.get("selector", ""), d_qk=block["d_qk"])
                else:
                    entry["hidden"] = block["hidden"]
        layout.append(entry)
    layers = [
        {
            "index": p["layer"],
            "heads": p["heads"],
            "d_head": p["d_head"],
            "mlp_hidden": p["mlp_hidden"],
        }
        for p in d["plan"]
    ]
    return {
        **{k: v for k, v in d.items() if k not in ("bos", "max_seq_len", "plan")},
        "version": 1,
        "max_len": d["max_seq_len"],
        "layout": layout,
        "layers": layers,
    }
