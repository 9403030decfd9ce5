"""`rasp draw`: every example draws without graphviz; dot is used when present and never needed."""

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasp import draw as draw_module
from rasp.draw import draw, render, to_dot
from rasp.env import Environment
from rasp.graph import build_graph, layered_layout, node_label

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.rasp"))


@pytest.fixture
def no_dot(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(
        draw_module.shutil,
        "which",
        lambda name, *a, **k: None if name == "dot" else real(name, *a, **k),
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_draw_every_example_without_dot(path, tmp_path, no_dot):
    out = tmp_path / f"{path.stem}.svg"
    result = CliRunner().invoke(draw, [str(path), "-o", str(out), "--no-layers"])
    assert result.exit_code == 0, result.output
    assert "drawn with matplotlib" in result.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_png_and_pdf(tmp_path, no_dot):
    path = str(ROOT / "examples" / "reverse.rasp")
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        out = tmp_path / f"reverse.{ext}"
        result = CliRunner().invoke(draw, [path, "-e", "reverse", "-o", str(out), "--no-layers"])
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
    assert render(env.expression("y"), str(tmp_path / "y.svg")).graph["engine"] == "matplotlib"
    with pytest.raises(RuntimeError, match="dot failed"):
        render(env.expression("y"), str(tmp_path / "y2.svg"), engine="dot")


def test_user_errors(tmp_path, no_dot):
    path = str(ROOT / "examples" / "reverse.rasp")
    runner = CliRunner()
    result = runner.invoke(draw, [path, "-o", str(tmp_path / "x.gif"), "--no-layers"])
    assert result.exit_code == 1 and "use .svg, .png or .pdf" in result.output
    result = runner.invoke(
        draw, [path, "--engine", "dot", "-o", str(tmp_path / "x.svg"), "--no-layers"]
    )
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
    result = CliRunner().invoke(
        draw,
        [str(ROOT / "examples" / "sort.rasp"), "-o", str(tmp_path / "sort.svg"), "--no-layers"],
    )
    assert result.exit_code == 0 and "drawn with dot" in result.output


def test_library_internals_are_folded_by_default(tmp_path, no_dot):
    """The one-line `hist` drew 16 nodes, mostly selector_width's insides (at0, share0,
    chose0): now its call is one node, with a count of the steps folded into it."""
    path = str(ROOT / "examples" / "hist.rasp")
    out = tmp_path / "hist.svg"
    result = CliRunner().invoke(draw, [path, "-o", str(out), "--no-layers"])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert "share0" not in svg and "at0" not in svg and "library steps" in svg
    assert re.search(
        r"\d+ nodes, drawn with matplotlib\n\(\d+ library steps folded into "
        r"their calls: --internals draws them\)\n",
        result.output,
    )
    shown = int(result.output.split(": ")[1].split()[0])
    assert shown <= 5
    result = CliRunner().invoke(draw, [path, "-o", str(out), "--no-layers", "--internals"])
    assert "share0" in out.read_text()
    assert int(result.output.split(": ")[1].split()[0]) > shown


def test_graph_edges_skip_hidden_steps():
    env = Environment()
    env.run("hist = selector_width(select(tokens, tokens, ==));")
    root = env.expression("hist")
    graph = build_graph(root, internals=False)
    names = {data["info"].label.split("\n")[0] for _n, data in graph.nodes(data=True)}
    assert "hist" in names and "tokens" in names and "indices" in names
    assert nx_has_path(graph, "tokens", "hist")


def nx_has_path(graph, a: str, b: str) -> bool:
    import networkx as nx

    by_name = {data["info"].label.split("\n")[0]: n for n, data in graph.nodes(data=True)}
    return nx.has_path(graph, by_name[a], by_name[b])


def test_legend_names_the_colours(tmp_path, no_dot):
    path = str(ROOT / "examples" / "reverse.rasp")
    out = tmp_path / "reverse.svg"
    CliRunner().invoke(draw, [path, "-o", str(out), "--no-layers"])
    svg = out.read_text()
    for meaning in ("input", "MLP (elementwise)", "selector", "attention (aggregate)"):
        assert f">{meaning}<" in svg or meaning in svg, meaning
    graph = build_graph(Environment().expression('tokens == "a"'))
    assert "cluster_legend" in to_dot(graph) and "MLP (elementwise)" in to_dot(graph)


def test_layer_legend(tmp_path, no_dot):
    pytest.importorskip("compiler")
    out = tmp_path / "reverse.svg"
    result = CliRunner().invoke(draw, [str(ROOT / "examples" / "reverse.rasp"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert "embedding" in svg and re.search(r">layer \d+<|layer \d+", svg)


def test_repl_draw_writes_a_safe_name_coloured_by_layer(tmp_path, monkeypatch):
    """It wrote comp_flows/x("hello").pdf, coloured by kind."""
    pytest.importorskip("compiler")
    from rasp.repl import ReplSession, text_of

    monkeypatch.chdir(tmp_path)
    seen = {}

    def record(
        node,
        path,
        example=None,
        engine="auto",
        placed=None,
        title=None,
        internals=False,
        names=None,
    ):
        seen.update(path=path, placed=placed)
        open(path, "wb").close()

    monkeypatch.setattr(draw_module, "render", record)
    session = ReplSession(interactive=True)
    session.run_text("x = aggregate(select(indices, length - indices - 1, ==), tokens);")
    out = text_of(session.run_text("draw(x);"))
    assert seen["path"] == os.path.join("comp_flows", "x_hello.pdf")
    assert (tmp_path / "comp_flows" / "x_hello.pdf").exists()
    assert seen["placed"] and "(graph drawn to comp_flows/x_hello.pdf)" in out
    layers = {where[0] for where in seen["placed"].values()}
    assert -1 in layers and max(layers) >= 0


def test_a_library_value_the_user_reads_is_one_node(tmp_path, no_dot):
    """reverse reads the library's `length`: drawn as one node (its insides, `full_s`
    included, folded into it); a name the user binds to a library call's result stays."""
    from rasp.graph import top_level

    env = Environment()
    env.run(
        "flip = select(indices, length - indices - 1, ==);\n"
        "reverse = aggregate(flip, tokens);\nh = selector_width(flip);\ny = h + 1;"
    )
    graph = build_graph(env.expression("reverse"), internals=False, names=top_level(env))
    names = {data["info"].label.split("\n")[0] for _n, data in graph.nodes(data=True)}
    assert "length" in names and "full_s" not in names
    graph = build_graph(env.expression("y"), internals=False, names=top_level(env))
    names = {data["info"].label.split("\n")[0] for _n, data in graph.nodes(data=True)}
    assert {"h", "y", "flip"} <= names and not any(n.endswith("0") for n in names)
