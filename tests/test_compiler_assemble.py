"""Assembly: the manifest labels every residual dimension, and models save and load."""

from __future__ import annotations

import json

import compiler
import rasp
from compiler.manifest import Embedding, HeadValue, MlpValue, Reserved
from compiler.testing import ROOT


def test_manifest_labels_the_residual_stream(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    env = rasp.Environment()
    env.run(open("examples/reverse.rasp").read(), "examples/reverse.rasp")
    prog = compiler.compile(env, "reverse", vocab=["a", "b", "c"], max_len=8)
    layout = prog.manifest.layout
    assert [(v.label, v.kind) for v in layout[:2]] == [("one", "constant"), ("bos", "bos")]
    assert all(isinstance(v, Reserved) for v in layout[:2])
    assert all(isinstance(v, Embedding | HeadValue | MlpValue) for v in layout[2:])
    dims = [v.dims for v in layout]
    assert dims[0][0] == 0 and dims[-1][1] == prog.stats["d_model"]
    assert all(a[1] == b[0] for a, b in zip(dims, dims[1:], strict=False))
    out = next(v for v in layout if v.label == "reverse")
    assert out.where == "examples/reverse.rasp:8:11" and out.sublayer == "attention"
    assert any(v.where.startswith("stdlib.rasp") for v in layout)  # length
    assert {v.encoding for v in layout} <= {"categorical", "numerical"}
    path = tmp_path / "reverse.safetensors"
    prog.save(path)
    loaded = compiler.load(path)
    assert loaded.run("abcab") == prog.run("abcab") == list("bacba")
    assert loaded.stats == prog.stats
    assert loaded.manifest == prog.manifest
    json.dumps(loaded.manifest.to_json())
