"""Assembly: the manifest labels every residual dimension, and models save and load."""

from __future__ import annotations

import json

import compiler
import rasp
from compiler.testing import ROOT


def test_manifest_labels_the_residual_stream(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    env = rasp.Environment()
    env.run(open("examples/reverse.rasp").read(), "examples/reverse.rasp")
    prog = compiler.compile(env, "reverse", vocab=["a", "b", "c"], max_seq_len=8)
    layout = prog.manifest["layout"]
    assert layout[0]["node"] == "one" and layout[1]["node"] == "bos"
    dims = [e["dims"] for e in layout]
    assert dims[0][0] == 0 and dims[-1][1] == prog.stats["d_model"]
    assert all(a[1] == b[0] for a, b in zip(dims, dims[1:], strict=False))
    out = next(e for e in layout if e["node"] == "reverse")
    assert out["where"] == "examples/reverse.rasp:8:11" and out["sublayer"] == "attention"
    assert any(e.get("where", "").startswith("stdlib.rasp") for e in layout)  # length
    path = tmp_path / "reverse.safetensors"
    prog.save(path)
    loaded = compiler.load(path)
    assert loaded.run("abcab") == prog.run("abcab") == list("bacba")
    assert loaded.stats == prog.stats
    json.dumps(loaded.manifest)
