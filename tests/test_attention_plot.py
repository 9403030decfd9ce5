"""`rasp attention`: compiled heads paired with the RASP selectors they implement, as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import rasp
from rasp.cli import main

pytest.importorskip("compiler")

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str):
    return CliRunner().invoke(main, ["attention", *args], catch_exceptions=False)


def test_reverse_heads_match_their_selectors(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "rev.png"
    result = _run("examples/reverse.rasp", "-i", "abcab", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    lines = result.output.splitlines()
    assert lines[0] == f'{out}: 2 heads on "abcab"'
    assert any("reverse <- flip" in line and "matches the selector" in line for line in lines)
    assert all("matches the selector" in line for line in lines[1:])


def test_head_views_pair_heads_with_the_interpreters_selectors():
    import compiler
    from rasp.attention_plot import head_views

    env = rasp.Environment()
    env.run('load "examples/reverse";')
    prog = compiler.compile(env, "reverse", vocab=list("abc"), max_len=6)
    tokens = list("abca")
    views = head_views(prog, tokens)
    assert len(views) == prog.stats["heads"]
    flip = next(v for v in views if v.selector_label == "flip")
    assert flip.selector == env.evaluate("flip", "abca")
    assert flip.weights.shape == (5, 5)
    np.testing.assert_allclose(flip.weights.sum(axis=1), 1.0, rtol=1e-6)
    # each query's weight sits on the key its selector chooses (column 0 is BOS)
    assert [int(row.argmax()) - 1 for row in flip.weights[1:]] == [3, 2, 1, 0]
    assert all(v.matches() for v in views)


def test_a_wrong_pattern_is_reported():
    from rasp.attention_plot import HeadView

    weights = np.zeros((3, 3))
    weights[:, 1] = 1.0  # every query reads the first key
    view = HeadView(0, 0, "x", "attention", "sel", [[False, True], [False, True]], weights)
    assert view.matches() is False
    assert HeadView(0, 0, "x", "attention", "?", None, weights).matches() is None


def test_selectors_and_width_heads(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "sort.png"
    result = _run("examples/sort.rasp", "-i", "[3, 1, 2, 1]", "-o", str(out), "--dpi", "40")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    assert result.output.count("matches the selector") == 3
    out = tmp_path / "flip.png"  # a selector compiles inside aggregate(selector, indices)
    result = _run("examples/reverse.rasp", "-e", "flip", "-i", "abc", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "aggregate(flip, indices) <- flip" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["-i", "abz"], "error: token 'z' is not in the vocabulary ['a', 'b', 'c']"),
        (["-e", "nope"], "error: <input>:1:1: Undefined variable: nope"),
        (["-i", "abcabcabcabcabcabc"], "longer than the compiled max_len 16"),
    ],
)
def test_user_errors_exit_1_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        main, ["attention", "examples/reverse.rasp", *args, "-o", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert message in result.output
    assert not (tmp_path / "x.png").exists()


def test_listed_in_help():
    result = CliRunner().invoke(main, ["--help"])
    assert "attention" in result.output


def test_without_a_header_the_input_gives_vocabulary_and_length(tmp_path):
    program = tmp_path / "first.rasp"
    program.write_text("y = tokens;\n")
    out = tmp_path / "first.png"
    args = [str(program), "-e", "aggregate(select(indices, 0, ==), tokens)", "-o", str(out)]
    result = _run(*args)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {program} has no example in its header: give an input with -i"
    )
    result = _run(*args, "-i", "xyz")
    assert result.exit_code == 0, result.output
    assert (
        "<- select(indices, 0, ==) (attention (select one)); matches the selector" in result.output
    )
    assert out.read_bytes().startswith(PNG)
    result = _run(str(program), "-i", "xyz", "-o", str(out))
    assert result.exit_code == 1
    assert "has no `# compile:` header: give the s-op with -e" in result.output


def test_a_model_without_heads_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = _run(
        "examples/sort.rasp", "-e", "tokens_int * 2", "-i", "[1, 2]", "-o", str(tmp_path / "x.png")
    )
    assert result.exit_code == 1
    assert (
        result.output.strip() == "error: `tokens_int * 2` compiles to a model without "
        "attention heads"
    )


def _views(path: str, given: str, max_len: int | None = None):
    import compiler
    from rasp.attention_plot import head_views
    from rasp.examples import read_header

    env = rasp.Environment()
    env.run((ROOT / path).read_text(), str(ROOT / path))
    spec = read_header(str(ROOT / path)).compile
    prog = compiler.compile(env, spec.expr, spec.vocab, max_len or spec.max_len)
    return head_views(prog, list(given))


def test_prefix_count_heads_find_their_selector(monkeypatch):
    """dyck2's prefix counts attend with `select(opens, 1, ==) and upto`, a selector the
    compiler built: it was drawn as "not found"; now it is evaluated and compared."""
    monkeypatch.chdir(ROOT)
    views = _views("examples/dyck2.rasp", "({})")
    assert any(" and upto" in v.selector_label for v in views)
    assert all(v.selector is not None for v in views)
    assert all(v.matches() for v in views)


def _text_inside(fig) -> None:
    """Every text of the figure (titles, tick labels) lies inside it: nothing is cut; and the
    figure's title lies clear of every panel (their titles and key labels included)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.bbox
    renderer = canvas.get_renderer()
    if fig.get_suptitle():  # matplotlib keeps the figure title's Text privately
        title = fig._suptitle.get_window_extent(renderer)
        for ax in fig.axes:
            assert not ax.get_tightbbox(renderer).overlaps(title), ax.get_title()
    for text in fig.findobj(
        match=lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")
    ):
        if not text.get_visible() or not text.get_text():
            continue
        ext = text.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, text.get_text()
        assert ext.y0 >= box.y0 - 1 and ext.y1 <= box.y1 + 1, text.get_text()


def test_figure_scale_colour_bar_axes_and_titles(monkeypatch):
    """30 tokens: the compiled panel's colours span the data (0 to its largest weight, not a
    fixed 0..1 that left it near-white), with a colour bar; keys and queries are labelled on
    both panels; tick labels are the tokens; every title fits in the figure."""
    from rasp.attention_plot import figure

    monkeypatch.chdir(ROOT)
    tokens = list("abc" * 10)
    views = _views("examples/hist.rasp", "abc" * 10, max_len=30)
    fig = figure(
        views,
        tokens,
        "hist on " + "abc" * 10 + "\ncompiled for vocab a,b,c, max "
        "length 30: 1 layer, 1 head (§ = BOS)",
    )
    selector_ax, compiled_ax, bar_ax = fig.axes
    low, high = compiled_ax.images[0].get_clim()
    assert low == 0 and high == pytest.approx(views[0].weights[1:].max())
    assert high < 0.5
    assert bar_ax.get_ylabel() == "attention weight"
    for ax in (selector_ax, compiled_ax):
        assert ax.get_xlabel() == "key" and ax.get_ylabel() == "query"
        assert [t.get_text() for t in ax.get_yticklabels()] == tokens
    assert [t.get_text() for t in compiled_ax.get_xticklabels()] == ["§", *tokens]
    _text_inside(fig)


def test_long_titles_wrap_inside_the_figure(monkeypatch):
    from rasp.attention_plot import figure

    monkeypatch.chdir(ROOT)
    views = _views("examples/dyck2.rasp", "({})")
    long = max(views, key=lambda v: len(v.node))
    assert len(long.node) > 40
    fig = figure(
        views,
        list("({})"),
        'dyck2 on "({})"\ncompiled for vocab (,),{,}, max length 12: 7 layers, 5 heads (§ = BOS)',
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any(" ".join(long.node.split()) in " ".join(t.split()) for t in titles)
    assert not any("…" in t for t in titles)  # wrapped whole, not cut mid-expression
    _text_inside(fig)
