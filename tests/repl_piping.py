"""Running a piped REPL session in a test: what `rasp < file` prints, from a string."""

from __future__ import annotations

import io

from rasp.repl import ReplSession, run_piped


def piped(stdin: str, session: ReplSession | None = None) -> str:
    out = io.StringIO()
    run_piped(io.StringIO(stdin), out, session)
    return out.getvalue()


def body(stdout: str) -> str:
    """A piped session's output without the banner."""
    return stdout.split("\n", 2)[2]
