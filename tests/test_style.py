"""House style the linters do not check: code in docstrings and comments is written in single
backticks (Markdown), never reST's double ones; Markdown fences (```) are fine."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["rasp", "compiler", "runtime", "lm", "benchmarks", "scripts", "tests"]
DOUBLE = re.compile(r"(?<!`)``(?!`)")


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the comments and the strings that stand alone (docstrings) of a file."""
    out = []
    previous = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.COMMENT or (
            tok.type == tokenize.STRING
            and previous in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
        ):
            out.append((tok.start[0], tok.string))
        if tok.type not in (tokenize.COMMENT,):
            previous = tok.type
    return out


def test_docstrings_and_comments_use_single_backticks():
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, text in _prose(path)
        if DOUBLE.search(text)
    ]
    assert not found, "reST double backticks (write `x`): " + ", ".join(found)


def test_the_check_finds_double_backticks(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Uses ``x``."""\n\n# and ``y``\nz = "``kept``"\n', encoding="utf-8")
    assert [line for line, text in _prose(sample) if DOUBLE.search(text)] == [1, 3]
