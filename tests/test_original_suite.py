"""The original RASP's own test suite: its golden REPL sessions, replayed through raspc's REPL.

tests/data/original_suite.json holds the 21 sessions of tech-srl/RASP's tests/in (those that do
not replace the library file), the output its tests/tgt expects, and the programs they load.
"""

import io
import json
from pathlib import Path

import pytest

from rasp.repl import run_piped

SUITE = json.loads((Path(__file__).parent / "data" / "original_suite.json").read_text())


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A directory laid out as the original's work tree, as the working directory."""
    for path, text in SUITE["files"].items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", SUITE["cases"], ids=[c["name"] for c in SUITE["cases"]])
def test_session(case, tree):
    out = io.StringIO()
    run_piped(io.StringIO(case["stdin"]), out)
    # The original's test script writes its output with print(): one more newline.
    assert out.getvalue() + "\n" == case["stdout"]


def test_the_suite_is_whole():
    assert len(SUITE["cases"]) == 21
    assert all(c["stdout"].startswith("RASP 0.1\n") for c in SUITE["cases"])
