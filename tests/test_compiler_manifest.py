"""The manifest: typed, versioned, validated on load; nodes named by stable references."""

from __future__ import annotations

import json
import os

import pytest

import compiler
import runtime
from compiler.manifest import VERSION, HeadValue, Manifest, ManifestError
from compiler.refs import CombineRef, ConstRef, NodeRef, SelectRef, from_json, to_json
from compiler.testing import ROOT, env_with
from rasp import interpreter, ir

MODELS = os.path.join(ROOT, "tests", "data", "models")
PREFIX = (
    'c = round(aggregate(select(indices, indices, <=), indicator(tokens == "a")) * (indices + 1));'
)


def test_json_round_trip_is_exact():
    prog = compiler.compile(env_with(PREFIX), "c", vocab=["a", "b"], max_len=5)
    data = json.loads(json.dumps(prog.manifest.to_json()))
    assert data["version"] == VERSION
    assert Manifest.from_json(data) == prog.manifest
    with pytest.raises(ManifestError, match="not a compiled RASP program"):
        Manifest.from_json([data])


def test_references_are_the_same_in_another_environment():
    """IR ids differ between two evaluations of a program; the references do not."""
    a = compiler.compile(env_with(PREFIX), "c", vocab=["a", "b"], max_len=5)
    b = compiler.compile(env_with(PREFIX), "c", vocab=["a", "b"], max_len=5)
    assert a.node is not None and b.node is not None and a.node.id != b.node.id
    assert a.manifest.layout == b.manifest.layout
    assert any(v.node is not None for v in a.manifest.layout)


def test_a_built_selector_is_rebuilt_from_program_nodes():
    """A prefix count's head attends with `select(x, 1, ==) and upto`, which the compiler
    built: its reference rebuilds it over the program's nodes in a fresh environment, and
    the rebuilt selector selects what the head attends to."""
    prog = compiler.compile(env_with(PREFIX), "c", vocab=["a", "b"], max_len=5)
    [(_layer, _h, head)] = prog.manifest.heads()
    assert isinstance(head.selector_ref, CombineRef)
    other = env_with(PREFIX).expression("c")
    sel = prog.manifest.selector(head, other)
    assert isinstance(sel, ir.SelectorCombine) and sel.op == "and"
    upto = sel.inputs[1]
    assert isinstance(upto, ir.Select) and upto.op == "<="
    assert upto in list(ir.walk(other))  # the program's own node, not a copy
    x = list("abaab")
    chosen = interpreter.evaluate_batch(sel, [x])[0]
    assert chosen == [[k <= q and x[k] == "a" for k in range(5)] for q in range(5)]


def test_an_aggregate_head_names_the_programs_selector():
    src = "s = select(indices, length - indices - 1, ==); r = aggregate(s, tokens);"
    prog = compiler.compile(env_with(src), "r", vocab=["a", "b"], max_len=4)
    root = env_with(src).expression("r")
    heads = [h for _l, _i, h in prog.manifest.heads() if h.label == "r"]
    assert [prog.manifest.selector(h, root).name for h in heads] == ["s"]
    placed = prog.manifest.placed(root)
    assert placed[root.id].label == "r" and placed[root.id].sublayer == "attention"


@pytest.mark.parametrize(
    "ref",
    [
        NodeRef(3),
        ConstRef(1),
        ConstRef("a"),
        SelectRef("<", NodeRef(0), ConstRef(2.5)),
        CombineRef("or", (NodeRef(1), CombineRef("not", (NodeRef(2),)))),
    ],
)
def test_references_round_trip(ref):
    assert from_json(json.loads(json.dumps(to_json(ref)))) == ref


@pytest.mark.parametrize(
    "bad",
    [
        {"node": "3"},
        {"select": "~", "keys": {"node": 0}, "queries": {"node": 1}},
        {"combine": "xor", "inputs": []},
        [1],
        None,
    ],
)
def test_malformed_references_are_refused(bad):
    with pytest.raises(ValueError, match="not a node reference"):
        from_json(bad)


@pytest.mark.parametrize(
    "name, expr, runs",
    [
        ("hist_v1", "hist", [("abca", [2, 1, 1, 2])]),
        ("reverse_v1", "reverse", [("abc", ["c", "b", "a"]), ("cab", ["b", "a", "c"])]),
    ],
)
def test_version_1_files_load_and_run(name, expr, runs):
    prog = compiler.load(os.path.join(MODELS, name + ".safetensors"))
    m = prog.manifest
    assert m.version == 1 and m.expr == expr and m.max_len == 5 and prog.max_len == 5
    for x, want in runs:
        assert prog.run(x) == want
    assert {v.encoding for v in m.layout} <= {"categorical", "numerical"}
    assert all(v.node is None for v in m.layout)  # its IR ids named nothing elsewhere
    assert [h.selector for _l, _i, h in m.heads()] != []
    assert all(h.selector_ref is None for _l, _i, h in m.heads())
    assert "output: " in prog.plan_text(80)
    assert sum(layer.heads for layer in m.layers) == prog.stats["heads"]


def test_a_version_1_file_saved_again_is_version_2(tmp_path):
    prog = compiler.load(os.path.join(MODELS, "reverse_v1.safetensors"))
    prog.save(tmp_path / "again.safetensors")
    again = compiler.load(tmp_path / "again.safetensors")
    assert again.manifest.version == VERSION and again.run("abc") == ["c", "b", "a"]
    assert again.manifest.layout == prog.manifest.layout


def _saved(tmp_path, edit) -> str:
    prog = compiler.compile(
        env_with("w = selector_width(select(tokens, tokens, ==));"),
        "w",
        vocab=["a", "b"],
        max_len=3,
    )
    data = prog.manifest.to_json()
    edit(data)
    path = str(tmp_path / "m.safetensors")
    runtime.save(prog.model, path, data)
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(version=7), "manifest version 7: this raspc reads versions 1 to 2"),
        (lambda d: d.pop("layers"), "damaged manifest (version 2): KeyError: 'layers'"),
        (lambda d: d["layout"][2].update(encoding="cat"), "unknown encoding 'cat'"),
        (lambda d: d.update(vocab=[]), "the vocabulary is empty"),
        (lambda d: d.update(max_len=9), "positions, not max_len 9 + BOS"),
        (lambda d: d.update(format="other"), "a raspc model, but not a compiled RASP program"),
        (lambda d: d["layout"][-1].update(dims=[5, 99]), "outside d_model"),
        (lambda d: d["layers"][0].update(heads=3), "the layers do not match the heads"),
        (lambda d: d["layout"][-1].update(layer=4), "is in layer 4 of 1"),
    ],
)
def test_a_bad_manifest_is_one_clear_error(tmp_path, edit, message):
    with pytest.raises(runtime.ModelFileError) as err:
        compiler.load(_saved(tmp_path, edit))
    assert message in str(err.value) and "m.safetensors" in str(err.value)


def test_heads_are_numbered_within_their_layer():
    src = (
        "a = aggregate(select(indices, indices, ==), tokens);"
        "b = aggregate(select(indices, 0, ==), tokens);"
        "c = aggregate(select(indices, indices, <), indicator(a == b));"
    )
    prog = compiler.compile(env_with(src), "c", vocab=["x", "y"], max_len=3)
    numbered = [(layer, h) for layer, h, _v in prog.manifest.heads()]
    assert numbered == sorted(numbered)
    for layer in prog.manifest.layers:
        assert [h for lay, h in numbered if lay == layer.index] == list(range(layer.heads))
    first = prog.manifest.layers[0]
    assert all(isinstance(b, HeadValue) for b in prog.manifest.blocks(0)[: first.heads])
