"""`rasp` with no arguments: the terminal REPL on a terminal, the plain one when piped.

Apart from both front ends so that the session (rasp.repl) never imports the terminal one
(rasp.repl_prompt, which imports prompt_toolkit and the session).
"""

from __future__ import annotations

import os
import sys

from rasp.repl import ReplSession, run_piped


def history_path() -> str:
    return os.environ.get("RASP_HISTORY") or os.path.expanduser("~/.rasp_history")


def run_repl() -> None:
    if sys.stdin.isatty() and sys.stdout.isatty():
        from rasp.repl_prompt import PromptRepl  # prompt_toolkit: only for a terminal

        session = ReplSession(interactive=True)
        session.progress = sys.stdout  # slow commands (:compile) tick on the terminal
        PromptRepl(session, history_path()).run()
    else:
        run_piped(sys.stdin, sys.stdout)
