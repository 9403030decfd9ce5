"""Refresh the docs' shown output, and write the images they show.

    .venv/bin/python tests/update_docs.py [PAGE.md ...]

Runs every `$ command` of the ```console blocks of README.md and docs/*.md in the checkout
itself (so the commands that write `docs/img/*.png` write the images the pages show), and
every REPL session (```rasp blocks of `>> ` inputs), and writes what they printed under them.
Shown output is kept where it still matches as the docs test compares it: lines that are
exactly `...` (output too long or too variable to show, such as timings), and numbers within
a block's `±N%` (numbers that vary by machine); output with a traceback is never written.
The docs test runs the same blocks in a scratch copy and never writes here. Review the diff
before committing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_blocks import (  # noqa: E402
    FENCE,
    PAGES,
    PROMPT,
    ROOT,
    Block,
    blocks,
    console_commands,
    matches,
    repl_inputs,
    run_command,
    run_repl,
    trimmed,
)

from rasp.repl import ReplSession  # noqa: E402


def _kept(shown: list[str], actual: list[str], block: Block) -> list[str]:
    actual = [line.rstrip() for line in actual]
    if any(line.startswith("Traceback (most recent call last)") for line in actual):
        print(f"{block.where}: not updated, the command crashed:\n" + "\n".join(actual))
        return shown
    return shown if matches(trimmed(shown), actual, block.tolerance) else actual


def refresh_console(block: Block) -> str:
    out: list[str] = []
    for command, shown in console_commands(block.body):
        out.append("$ " + command)
        out.extend(_kept(shown, run_command(command, ROOT).rstrip("\n").splitlines(), block))
    return "\n".join(out) + "\n"


def refresh_session(block: Block, session: ReplSession) -> str:
    out: list[str] = []
    for text, shown in repl_inputs(block.body):
        first, *more = text.split("\n")
        out.append(PROMPT + first)
        out.extend(".. " + line for line in more)
        out.extend(_kept(shown, run_repl(session, text), block))
    return "\n".join(line.rstrip() for line in out) + "\n"


def refresh(page: Path) -> bool:
    text = page.read_text()
    session = ReplSession(interactive=True)
    new, last = [], 0
    for block, m in zip(blocks(page), FENCE.finditer(text), strict=True):
        if block.lang == "console":
            body = refresh_console(block)
        elif block.is_repl:
            body = refresh_session(block, session)
        else:
            continue
        new += [text[last : m.start(4)], body]
        last = m.end(4)
    new.append(text[last:])
    updated = "".join(new)
    if updated != text:
        page.write_text(updated)
    return updated != text


def main(paths: list[str]) -> None:
    os.chdir(ROOT)
    os.environ["COLUMNS"] = "80"
    for page in [Path(p).resolve() for p in paths] or PAGES:
        if refresh(page):
            print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
