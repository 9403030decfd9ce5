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


def joined(out: str) -> str:
    """The listing with each wrapped annotation on one line again."""
    return out.replace("\n#>   ", " ")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_show_every_example(path):
    result = CliRunner().invoke(show, [str(path), "--no-layers"])
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
    program.write_text(
        '# p: demo\n# example: "abc" -> [0, 1, 2]\n'
        "idx = indices;\nprevs = select(indices, indices, <);\n"
        'def twice(x) {\n  return x + x;\n}\nn = 3;\nwords = ["a", "b"];\n'
        'bad = tokens_int + 1;\nn = "rebound";\nidx = indices + 10;\n'
    )
    result = CliRunner().invoke(show, [str(program), "--no-layers"])
    assert result.exit_code == 0, result.output
    notes = [line for line in joined(result.output).splitlines() if line.startswith("#>")]
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
    html = CliRunner().invoke(show, [path, "--html", "--no-layers"]).output
    assert html.lstrip().startswith("<!DOCTYPE html") and "#&gt;" in html
    coloured = CliRunner().invoke(show, [path, "--color", "--no-layers"]).output
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
    out = joined(CliRunner().invoke(show, [str(ROOT / "examples" / "reverse.rasp")]).output)
    assert re.search(
        r'#> reverse: s-op, strings; on "abc": \[c, b, a\]; (layer \d+ '
        r"(attention|MLP)|the model's output).*\n",
        out,
    )
    assert re.search(
        r'#> flip: selector; on "abc": 3 of 3x3 pairs selected; attention '
        r"pattern of 1 head in layer \d+\n",
        out,
    )
    assert re.fullmatch(
        r"#> compiled reverse \(vocab a,b,c, max length 16\): \d+ layers?, "
        r"\d+ heads?, d_model \d+, MLP hidden \d+, [\d,]+ parameters",
        out.splitlines()[-1],
    )
    # The header compiles an expression that the file names: the name is annotated.
    out = joined(CliRunner().invoke(show, [str(ROOT / "examples" / "sort.rasp")]).output)
    assert re.search(
        r"#> sorted_ints: s-op, ints; on \[3, 1, 2\]: \[1, 2, 3\]; "
        r"(layer \d+|the model's output)",
        out,
    )


def test_compile_failure_is_a_note(tmp_path):
    pytest.importorskip("compiler")
    program = tmp_path / "sel.rasp"
    program.write_text(
        "# compile: prevs --vocab a,b --max-len 4\nprevs = select(indices, indices, <);\n"
    )
    result = CliRunner().invoke(show, [str(program)])
    assert result.exit_code == 0, result.output
    assert joined(result.output).splitlines()[-1].startswith("#> compile prevs: cannot compile")


def test_html_numbers_lines_as_the_file_does():
    """Annotation lines get no number, so every number is that line's number in the file;
    the page says it is UTF-8 (it was `charset=None`)."""
    path = ROOT / "examples" / "reverse.rasp"
    html = CliRunner().invoke(show, [str(path), "--html", "--no-layers"]).output
    assert '<meta charset="utf-8">' in html and "charset=None" not in html
    numbers = re.search(r'<td class="linenos"><pre>(.*?)</pre>', html, re.S).group(1).split("\n")
    code = (
        re.search(r'<td class="code"><div class="highlight"><pre>(.*?)</pre>', html, re.S)
        .group(1)
        .split("\n")
    )
    assert len(numbers) == len(code)
    source = path.read_text().splitlines()
    for number, line in zip(numbers, code, strict=True):
        plain = re.sub(r"<[^>]+>", "", line).replace("&gt;", ">").replace("&lt;", "<")
        plain = plain.replace("&quot;", '"').replace("&#39;", "'").replace("&amp;", "&")
        if number:
            assert plain == source[int(number) - 1]
        else:
            assert plain.lstrip().startswith("#>")
    assert [int(n) for n in numbers if n] == list(range(1, len(source) + 1))


def test_terminal_colours_are_the_terminals_own():
    """No fixed shade (dark green #005f00 vanishes on black, blue #0000ff too): the default
    style uses the terminal's 8 named colours, so its palette suits its background."""
    from pygments.style import Style as PygmentsStyle

    from rasp.lexer import TerminalStyle

    for token, spec in TerminalStyle.styles.items():
        colours = [w for w in spec.split() if w not in ("bold", "italic", "underline")]
        assert all(
            c.startswith("ansi") and c not in ("ansiblue", "ansiblack", "ansiwhite", "ansiyellow")
            for c in colours
        ), token
    assert issubclass(TerminalStyle, PygmentsStyle)
    path = str(ROOT / "examples" / "hist.rasp")
    out = CliRunner().invoke(show, [path, "--color", "--no-layers"]).output
    assert not re.search(r"\x1b\[38;5;\d+m", out)  # only the 16 basic colour codes
    assert "\x1b[36m" in out  # builtins in the terminal's cyan
    out = CliRunner().invoke(show, [path, "--color", "--no-layers", "--style", "monokai"]).output
    assert "\x1b[38;2;" in out  # a named Pygments style, in true colour
    bad = CliRunner().invoke(show, [path, "--style", "nope"])
    assert bad.exit_code == 2 and "no style 'nope'; known: rasp-terminal" in bad.output


def test_long_values_are_cut_in_annotations(tmp_path):
    program = tmp_path / "long.rasp"
    program.write_text('# long: t\n# example: "' + "ab" * 50 + '" -> [a]\nx = indices * 1000;\n')
    out = CliRunner().invoke(show, [str(program), "--no-layers"]).output
    note = out.splitlines()[-1]
    assert note.startswith("#> x: s-op, ints; on ") and note.endswith("...")
    assert len(note) <= 80


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_listing_fits_80_columns(path):
    """Annotations wrap onto `#>` continuation lines between items, never inside a number."""
    out = CliRunner().invoke(show, [str(path), "--no-layers"]).output
    source = path.read_text().splitlines()
    for line in out.splitlines():
        assert len(line.expandtabs()) <= 80 or line in source, line
    if path.stem == "reverse":
        pytest.importorskip("compiler")
        out = CliRunner().invoke(show, [str(path)]).output
        assert max(len(line) for line in out.splitlines()) <= 80
        assert re.search(r"\n#>   (d_model \d+, )?MLP hidden \d+", out)
