"""Every example program's documented input/output (its header) holds."""

from pathlib import Path

import pytest

import rasp
from rasp.examples import read_header
from rasp.format import format_sequence

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.rasp"))
PAPER = ["reverse", "hist", "double_hist", "sort", "most_freq", "dyck1", "dyck2", "dyck3"]
TRACR = [
    "length",
    "frac_prevs",
    "sort_unique",
    "sort_freq",
    "pair_balance",
    "shuffle_dyck",
    "shuffle_dyck2",
    "reverse",
    "hist",
    "sort",
]


def test_every_program_is_there():
    names = {p.stem for p in EXAMPLES}
    assert set(PAPER + TRACR) <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_header_examples_hold(path, monkeypatch):
    header = read_header(str(path))
    assert header.name == path.stem
    assert header.compile is not None and header.examples, "header needs compile: and example:"
    env = rasp.Environment()
    env.run_file(str(path))
    for ex in header.examples:
        printed = format_sequence(env.evaluate(header.compile.expr, ex.input))
        assert ex.output in (printed, printed.rsplit(" (", 1)[0]), (ex.input, printed)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_vocab_covers_examples(path):
    header = read_header(str(path))
    for ex in header.examples:
        assert set(ex.input) <= set(header.compile.vocab)
        assert len(ex.input) <= header.compile.max_len
