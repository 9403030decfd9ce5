"""`rasp show`: every example is listed with an annotation per top-level name."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasp.env import Environment
from rasp.parser import parse_program
from rasp.show import annotate, show

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.rasp"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_show_every_example(path):
    result = CliRunner().invoke(show, [str(path), "--no-compile"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "\x1b" not in out  # plain when stdout is not a terminal
    source_lines = [line for line in out.splitlines() if not line.lstrip().startswith("#>")]
    assert "\n".join(source_lines) == path.read_text().rstrip("\n")
    notes = [line for line in out.splitlines() if line.lstrip().startswith("#>")]
    assert notes and not any("fails on" in n for n in notes)
    parse_program(out)  # the annotations are comments: the listing still parses


def test_annotation_lines(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text('# p: demo\n# example: "abc" -> [0, 1, 2]\n'
                       'idx = indices;\nprevs = select(indices, indices, <);\n'
                       'def twice(x) {\n  return x + x;\n}\nn = 3;\nwords = ["a", "b"];\n'
                       'bad = tokens_int + 1;\nn = "rebound";\nidx = indices + 10;\n')
    result = CliRunner().invoke(show, [str(program), "--no-compile"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("#>")]
    assert notes == [
        '#> idx: s-op, ints; on "abc": [0, 1, 2]',
        '#> prevs: selector; on "abc": 3 of 3x3 pairs selected',
        "#> twice: function; twice(x)",
        "#> n: value, int; 3",
        "#> words: value, list; ['a', 'b']",
        "#> bad: s-op, ?; fails on the examples: invalid literal for int() with base 10: 'a'",
        '#> n: value, str; "rebound"',
        '#> idx: s-op, ints; on "abc": [10, 11, 12]',
    ]


def test_types_over_several_examples():
    env = Environment()
    env.run("half = aggregate(select(indices, 0, ==) or select(indices, 1, ==), indices);")
    note = annotate("half", env.expression("half"), ["a", "ab"])
    assert note.type == "ints/floats"


def test_html_and_colour(tmp_path):
    path = str(EXAMPLES[0])
    html = CliRunner().invoke(show, [path, "--html", "--no-compile"]).output
    assert html.lstrip().startswith("<!DOCTYPE html") and "#&gt;" in html
    coloured = CliRunner().invoke(show, [path, "--color", "--no-compile"]).output
    assert "\x1b[" in coloured


def test_errors_exit_1(tmp_path):
    program = tmp_path / "bad.rasp"
    program.write_text("x = ;\n")
    result = CliRunner().invoke(show, [str(program)])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_compiled_layers():
    """The numbers are the compiler's (they improve as it does): check their shape only."""
    pytest.importorskip("compiler")
    out = CliRunner().invoke(show, [str(ROOT / "examples" / "reverse.rasp")]).output
    assert re.search(r'#> reverse: s-op, strings; on "abc": \[c, b, a\]; (layer \d+ '
                     r"(attention|MLP)|the model's output).*\n", out)
    assert re.search(r'#> flip: selector; on "abc": 3 of 3x3 pairs selected; attention '
                     r"pattern of 1 head in layer \d+\n", out)
    assert re.fullmatch(r"#> compiled reverse \(vocab a,b,c, max length 16\): \d+ layers?, "
                        r"\d+ heads?, d_model \d+, MLP hidden \d+, [\d,]+ parameters",
                        out.splitlines()[-1])
    # The header compiles an expression that the file names: the name is annotated.
    out = CliRunner().invoke(show, [str(ROOT / "examples" / "sort.rasp")]).output
    assert re.search(r"#> sorted_ints: s-op, ints; on \[3, 1, 2\]: \[1, 2, 3\]; "
                     r"(layer \d+|the model's output)", out)


def test_compile_failure_is_a_note(tmp_path):
    pytest.importorskip("compiler")
    program = tmp_path / "sel.rasp"
    program.write_text("# compile: prevs --vocab a,b --max-len 4\n"
                       "prevs = select(indices, indices, <);\n")
    result = CliRunner().invoke(show, [str(program)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("#> compile prevs: cannot compile")
