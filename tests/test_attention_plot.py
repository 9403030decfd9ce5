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
    prog = compiler.compile(env, "reverse", vocab=list("abc"), max_seq_len=6)
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


@pytest.mark.parametrize("args, message", [
    (["-i", "abz"], "error: token 'z' is not in the vocabulary ['a', 'b', 'c']"),
    (["-e", "nope"], "error: <input>:1:1: Undefined variable: nope"),
    (["-i", "abcabcabcabcabcabc"], "longer than the compiled max_seq_len 16"),
])
def test_user_errors_exit_1_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["attention", "examples/reverse.rasp", *args, "-o",
                                       str(tmp_path / "x.png")])
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
    assert result.output.strip() == (f"error: {program} has no example in its header: give an "
                                     "input with -i")
    result = _run(*args, "-i", "xyz")
    assert result.exit_code == 0, result.output
    assert "<- select(indices, 0, ==) (attention (select one)); matches the selector" in \
        result.output
    assert out.read_bytes().startswith(PNG)
    result = _run(str(program), "-i", "xyz", "-o", str(out))
    assert result.exit_code == 1
    assert "has no `# compile:` header: give the s-op with -e" in result.output


def test_a_model_without_heads_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = _run("examples/sort.rasp", "-e", "tokens_int * 2", "-i", "[1, 2]", "-o",
                  str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert result.output.strip() == "error: `tokens_int * 2` compiles to a model without " \
        "attention heads"
