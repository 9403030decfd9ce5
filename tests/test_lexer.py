"""The Pygments lexer: no Error tokens on real programs, the right class for each construct."""

import importlib
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from pygments.token import (
    Comment,
    Error,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
)

from rasp.lexer import RaspLexer, library_names

ROOT = Path(__file__).parent.parent
PROGRAMS = sorted((ROOT / "examples").rglob("*.rasp")) + [ROOT / "rasp" / "stdlib.rasp"]


def tokens(text: str) -> list[tuple]:
    return [(t, v) for t, v in RaspLexer().get_tokens(text) if v.strip()]


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_no_error_tokens_and_lossless(path):
    text = path.read_text()
    found = list(RaspLexer().get_tokens_unprocessed(text))
    assert [v for _pos, t, v in found if t in Error] == []
    assert "".join(v for _pos, _t, v in found) == text


def test_token_classes():
    assert tokens("def f(a) { return select(a, 1.5, ==); }") == [
        (Keyword, "def"),
        (Name.Function, "f"),
        (Punctuation, "("),
        (Name, "a"),
        (Punctuation, ")"),
        (Punctuation, "{"),
        (Keyword, "return"),
        (Name.Builtin, "select"),
        (Punctuation, "("),
        (Name, "a"),
        (Punctuation, ","),
        (Number.Float, "1.5"),
        (Punctuation, ","),
        (Operator, "=="),
        (Punctuation, ")"),
        (Punctuation, ";"),
        (Punctuation, "}"),
    ]
    assert tokens('x = not tokens == "a"; # why') == [
        (Name, "x"),
        (Operator, "="),
        (Operator.Word, "not"),
        (Name.Builtin, "tokens"),
        (Operator, "=="),
        (String.Double, '"a"'),
        (Punctuation, ";"),
        (Comment.Single, "# why"),
    ]
    assert tokens("length + selector_width(full_s) ^ 2 % True") == [
        (Name.Builtin, "length"),
        (Operator, "+"),
        (Name.Builtin, "selector_width"),
        (Punctuation, "("),
        (Name.Builtin, "full_s"),
        (Punctuation, ")"),
        (Operator, "^"),
        (Number.Integer, "2"),
        (Operator, "%"),
        (Keyword.Constant, "True"),
    ]


def test_repl_commands():
    assert tokens("set s-op example [1]") == [
        (Keyword.Pseudo, "set"),
        (Keyword.Pseudo, "s-op"),
        (Keyword.Pseudo, "example"),
        (Punctuation, "["),
        (Number.Integer, "1"),
        (Punctuation, "]"),
    ]
    assert tokens("full seq display off")[0] == (Keyword.Pseudo, "full seq display")
    assert tokens("exit()") == [(Keyword.Pseudo, "exit"), (Punctuation, "()")]
    assert tokens(":compile sort")[0] == (Keyword.Pseudo, ":compile")
    assert tokens(":cut off")[0] == (Keyword.Pseudo, ":cut")
    assert tokens('{"a": 1}')[2] == (Punctuation, ":")


def test_library_names_come_from_the_standard_library():
    names = library_names()
    assert {"length", "full_s", "sort", "selector_width", "has_focus"} <= set(names)
    assert "tokens" not in names


def test_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["pygments.lexers"]["rasp"]
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is RaspLexer


def _installed() -> bool:
    return any(ep.name == "rasp" for ep in metadata.entry_points(group="pygments.lexers"))


@pytest.mark.skipif(not _installed(), reason="raspc is not installed (pip install -e .)")
def test_pygmentize_finds_the_lexer():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("rasp"), RaspLexer)
    assert isinstance(get_lexer_for_filename("sort.rasp"), RaspLexer)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pygments",
            "-l",
            "rasp",
            "-f",
            "html",
            str(ROOT / "examples" / "sort.rasp"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and 'class="nb">sort</span>' in done.stdout


def test_keywords_come_from_the_grammar():
    """Each keyword terminal of grammar.lark is in one group, and the lexer, the REPL's
    ANTLR-worded errors and its help know every one: a keyword added to the grammar
    reaches them all or fails here."""
    import re

    from rasp import keywords
    from rasp.repl import HELP
    from rasp.repl_input import KEYWORDS as ANTLR_KEYWORDS

    grammar = (ROOT / "rasp" / "grammar.lark").read_text()
    written = set(re.findall(r'^[A-Z_]+(?:\.\d+)?:\s*"([a-z_]+)"\s*$', grammar, re.MULTILINE))
    groups = [keywords.statement_words(), keywords.operator_words(), keywords.repl_words()]
    assert sorted(w for g in groups for w in g) == sorted(written) == sorted(ANTLR_KEYWORDS)
    assert set(keywords.glued_words()) == {"select", "aggregate", "range", "zip", "len"}
    for word in written:
        kind = tokens(word)[0][0]
        assert kind in Keyword or kind in Operator.Word, (word, kind)
    for word in keywords.glued_words():
        assert tokens(word + "(")[0] == (Name.Builtin, word)
    for word in (*keywords.repl_words(), "load", "draw"):
        assert re.search(rf"\b{word}\b", HELP), word


def _blocks() -> list[str]:
    import re

    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return [b for page in pages for b in re.findall(r"```rasp\n(.*?)```", page.read_text(), re.S)]


def test_a_session_colours_input_as_rasp_and_output_as_output():
    session = (
        '>> set example "ab"\n>> def f(x) {\n..   return x;\n.. }\n'
        '     s-op: out\n \t Example: out("ab") = [a, b] (strings)\n'
        ">> :help\nStatements end with ';'\n>> 1 +;\n!! syntax error: unexpected ';'\n"
        "   at column 4\n   ^\n>> tokens;\n"
    )
    found = tokens(session)
    assert found[:4] == [
        (Generic.Prompt, ">>"),
        (Keyword.Pseudo, "set"),
        (Keyword.Pseudo, "example"),
        (String.Double, '"ab"'),
    ]
    assert (Name.Function, "f") in found and (Keyword, "return") in found
    assert [v for t, v in found if t is Generic.Prompt] == [
        ">>",
        ">>",
        "..",
        "..",
        ">>",
        ">>",
        ">>",
    ]
    assert [v.strip() for t, v in found if t is Generic.Output] == [
        "s-op: out",
        'Example: out("ab") = [a, b] (strings)',
        "Statements end with ';'",
    ]
    assert [v.strip() for t, v in found if t is Generic.Error] == [
        "!! syntax error: unexpected ';'",
        "at column 4",
        "^",
    ]
    assert (Keyword.Pseudo, ":help") in found and found[-2:] == [
        (Name.Builtin, "tokens"),
        (Punctuation, ";"),
    ]


def test_docs_blocks_lex_losslessly_and_sessions_never_colour_output_as_code():
    blocks = _blocks()
    assert len(blocks) >= 20
    for block in blocks:
        found = list(RaspLexer().get_tokens_unprocessed(block))
        assert "".join(v for _pos, _t, v in found) == block
        assert [v for _pos, t, v in found if t in Error] == []
        if block.startswith(">>"):
            starts = [pos for pos, _t, _v in found]
            for line_start in (0, *(i + 1 for i, c in enumerate(block) if c == "\n")):
                if line_start < len(block) and not block.startswith((">>", ".."), line_start):
                    kind = dict((pos, t) for pos, t, _v in found)[line_start]
                    assert line_start in starts and kind in (Generic.Output, Generic.Error)
