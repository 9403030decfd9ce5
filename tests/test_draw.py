"""`rasp draw`: every example draws without graphviz; dot is used when present and never needed."""

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasp import draw as draw_module
from rasp.draw import build_graph, draw, layered_layout, node_label, render, to_dot
from rasp.env import Environment

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.rasp"))


@pytest.fixture
def no_dot(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(draw_module.shutil, "which",
                        lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_draw_every_example_without_dot(path, tmp_path, no_dot):
    out = tmp_path / f"{path.stem}.svg"
    result = CliRunner().invoke(draw, [str(path), "-o", str(out), "--no-compile"])
    assert result.exit_code == 0, result.output
    assert "drawn with matplotlib" in result.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_png_and_pdf(tmp_path, no_dot):
    path = str(ROOT / "examples" / "reverse.rasp")
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        out = tmp_path / f"reverse.{ext}"
        result = CliRunner().invoke(draw, [path, "-e", "reverse", "-o", str(out),
                                           "--no-compile"])
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(magic)


def test_graph_labels_and_layers():
    env = Environment()
    env.run("flip = select(indices, length - indices - 1, ==);\nreverse = aggregate(flip, tokens);")
    root = env.expression("reverse")
    graph = build_graph(root, example="abc")
    labels = {data["info"].label for _n, data in graph.nodes(data=True)}
    assert "reverse\naggregate(flip, tokens)\n[c, b, a]" in labels
    assert "flip\nselect(indices, length - indices\n- 1, ==)" in labels
    pos, paths = layered_layout(graph)
    for a, b in graph.edges:  # every operand sits above its user, its edge one row a step
        assert pos[a][1] > pos[b][1]
        ys = [y for _x, y in paths[(a, b)]]
        assert ys == [pos[a][1] - i for i in range(len(ys))] and ys[-1] == pos[b][1]
    kinds = {data["info"].kind for _n, data in graph.nodes(data=True)}
    assert kinds == {"input", "mlp", "selector", "attention"}
    dot = to_dot(graph)
    assert dot.startswith("digraph rasp {") and "shape=ellipse" in dot and "->" in dot


def test_label_of_a_lifted_atom():
    env = Environment()
    env.run("y = indices + 1;")
    child = env.expression("y").child
    assert node_label(child) == "indices"


def test_fallback_when_dot_fails(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    env = Environment()
    env.run("y = indices + 1;")
    assert render(env.expression("y"), str(tmp_path / "y.svg")) == "matplotlib"
    with pytest.raises(RuntimeError, match="dot failed"):
        render(env.expression("y"), str(tmp_path / "y2.svg"), engine="dot")


def test_user_errors(tmp_path, no_dot):
    path = str(ROOT / "examples" / "reverse.rasp")
    runner = CliRunner()
    result = runner.invoke(draw, [path, "-o", str(tmp_path / "x.gif"), "--no-compile"])
    assert result.exit_code == 1 and "use .svg, .png or .pdf" in result.output
    result = runner.invoke(draw, [path, "--engine", "dot", "-o", str(tmp_path / "x.svg"),
                                  "--no-compile"])
    assert result.exit_code == 1 and "dot is not installed" in result.output
    result = runner.invoke(draw, [path, "-e", "nosuch", "-o", str(tmp_path / "x.svg")])
    assert result.exit_code == 1 and "nosuch" in result.output
    value = tmp_path / "v.rasp"
    value.write_text("n = 3;\n")
    result = runner.invoke(draw, [str(value), "-e", "n"])
    assert result.exit_code == 1 and "not an s-op" in result.output


def test_coloured_by_compiled_layer(tmp_path, no_dot):
    pytest.importorskip("compiler")
    out = tmp_path / "reverse.svg"
    result = CliRunner().invoke(draw, [str(ROOT / "examples" / "reverse.rasp"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()  # the numbers are the compiler's: check their shape only
    assert re.search(r"layer \d+ attention", svg) and "embedding" in svg
    assert re.search(r"compiled for vocab a,b,c, max length 16: \d+ layers?, \d+ heads?", svg)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_dot_when_installed(tmp_path):
    result = CliRunner().invoke(draw, [str(ROOT / "examples" / "sort.rasp"),
                                       "-o", str(tmp_path / "sort.svg"), "--no-compile"])
    assert result.exit_code == 0 and "drawn with dot" in result.output
