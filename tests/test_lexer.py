"""The Pygments lexer: no Error tokens on real programs, the right class for each construct."""

import importlib
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String

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
    assert tokens('def f(a) { return select(a, 1.5, ==); }') == [
        (Keyword, "def"), (Name.Function, "f"), (Punctuation, "("), (Name, "a"),
        (Punctuation, ")"), (Punctuation, "{"), (Keyword, "return"), (Name.Builtin, "select"),
        (Punctuation, "("), (Name, "a"), (Punctuation, ","), (Number.Float, "1.5"),
        (Punctuation, ","), (Operator, "=="), (Punctuation, ")"), (Punctuation, ";"),
        (Punctuation, "}")]
    assert tokens('x = not tokens == "a"; # why') == [
        (Name, "x"), (Operator, "="), (Operator.Word, "not"), (Name.Builtin, "tokens"),
        (Operator, "=="), (String.Double, '"a"'), (Punctuation, ";"), (Comment.Single, "# why")]
    assert tokens("length + selector_width(full_s) ^ 2 % True") == [
        (Name.Builtin, "length"), (Operator, "+"), (Name.Builtin, "selector_width"),
        (Punctuation, "("), (Name.Builtin, "full_s"), (Punctuation, ")"), (Operator, "^"),
        (Number.Integer, "2"), (Operator, "%"), (Keyword.Constant, "True")]


def test_repl_commands():
    assert tokens("set s-op example [1]") == [
        (Keyword.Pseudo, "set"), (Keyword.Pseudo, "s-op"), (Keyword.Pseudo, "example"),
        (Punctuation, "["), (Number.Integer, "1"), (Punctuation, "]")]
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
    done = subprocess.run([sys.executable, "-m", "pygments", "-l", "rasp", "-f", "html",
                           str(ROOT / "examples" / "sort.rasp")], capture_output=True, text=True)
    assert done.returncode == 0 and 'class="nb">sort</span>' in done.stdout


def test_keywords_come_from_the_grammar():
    """Each keyword terminal of grammar.lark is in one group, and the lexer, the REPL's
    ANTLR-worded errors and its help know every one: a keyword added to the grammar
    reaches them all or fails here."""
    import re

    from rasp import keywords
    from rasp.repl import HELP
    from rasp.repl_antlr import KEYWORDS as ANTLR_KEYWORDS

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
