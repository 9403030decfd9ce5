"""Refresh the shown output of every ```console block in README.md and docs/*.md.

    .venv/bin/python tests/update_docs.py [PAGE.md ...]

Runs each `$ command` and writes what it printed under it, keeping lines that are exactly
`...` (output too long or too variable to show, such as timings) where the output still
matches. Review the diff before committing: the docs test then checks the same output.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_docs import FENCE, PAGES, _matches, _run  # noqa: E402


def refresh(body: str) -> str:
    out: list[str] = []
    commands: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append((line, []))
        elif commands:
            commands[-1][1].append(line)
    for command, shown in commands:
        actual = [line.rstrip() for line in _run(command[2:]).rstrip("\n").splitlines()]
        out.append(command)
        out.extend(shown if "..." in shown and _matches(shown, actual) else actual)
    return "\n".join(out) + "\n"


def main(paths: list[str]) -> None:
    for page in [Path(p) for p in paths] or PAGES:
        text = page.read_text()
        new, last = [], 0
        for m in FENCE.finditer(text):
            if m.group(2) != "console":
                continue
            new.append(text[last:m.start(3)])
            new.append(refresh(m.group(3)))
            last = m.end(3)
        new.append(text[last:])
        updated = "".join(new)
        if updated != text:
            page.write_text(updated)
            print(f"updated {page}")


if __name__ == "__main__":
    main(sys.argv[1:])
