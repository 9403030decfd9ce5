"""The original RASP's own test suite: its golden REPL sessions, replayed through raspc's REPL.

The suite is the original's text (tech-srl/RASP, MIT), so it is not copied into this project:
point RASP_ORIGINAL at a work tree of tech-srl/RASP (e.g. `git clone` it, or the snapshot the
team fetches) and these tests replay its `tests/in` sessions against its `tests/tgt` outputs —
the 21 that do not replace the library file. Without a work tree they skip.
"""

import io
import os
import shutil
from pathlib import Path

import pytest

from rasp.repl import run_piped

ORIGINAL = Path(os.environ.get("RASP_ORIGINAL", "/nonexistent"))
SESSIONS = sorted((ORIGINAL / "tests" / "in").glob("*.txt"))

pytestmark = pytest.mark.skipif(
    not SESSIONS, reason="no work tree of tech-srl/RASP: set RASP_ORIGINAL to one"
)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """The programs the sessions load, laid out as in the original's tree, as the cwd."""
    shutil.copytree(ORIGINAL / "tests" / "rasps", tmp_path / "tests" / "rasps")
    for program in ORIGINAL.glob("*.rasp"):
        shutil.copy(program, tmp_path / program.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("session", SESSIONS, ids=[p.stem for p in SESSIONS])
def test_session(session, tree):
    out = io.StringIO()
    run_piped(io.StringIO(session.read_text()), out)
    expected = (ORIGINAL / "tests" / "tgt" / session.name).read_text()
    # The original's test script writes its output with print(): one more newline.
    assert out.getvalue() + "\n" == expected


def test_the_suite_is_whole():
    assert len(SESSIONS) == 21
