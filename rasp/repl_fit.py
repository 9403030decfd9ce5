"""Output that fits the terminal: the interactive REPL cuts long lines and long outputs.

A 200-token running example makes a 200x200 selector (hundreds of wide lines); cut at the
terminal's width and height, what remains is the matrix's top-left corner, still aligned,
and one note says how much was cut and how to see everything (`:cut off`). The piped REPL
never cuts: it prints exactly what the original prints.
"""

from __future__ import annotations

from dataclasses import dataclass

ELLIPSIS = "…"
NOTE_STYLE = "class:note"
Output = list[tuple[str, str]]  # one REPL answer: (style, text) fragments


@dataclass(frozen=True)
class Fit:
    """How much output one REPL answer may take: terminal columns and lines."""

    columns: int
    rows: int


def fit(output: Output, size: Fit) -> Output:
    """`output` (styled text fragments) with each plain line cut to `size.columns` (styled
    ones, such as errors, wrap whole), at most `size.rows` lines, and a note when anything
    was cut."""
    out: Output = []
    lines = wide = 0
    dropped = 0
    for style, text in output:
        kept: list[str] = []
        for line in text.splitlines(keepends=True):
            if lines >= size.rows:
                dropped += 1
                continue
            body = line.rstrip("\n")
            shown = body.expandtabs()
            if len(shown) > size.columns and not style:  # messages wrap, values are cut
                wide += 1
                line = shown[: size.columns - 1] + ELLIPSIS + line[len(body) :]
            kept.append(line)
            lines += line.endswith("\n")
        if kept:
            out.append((style, "".join(kept)))
    if dropped or wide:
        parts = []
        if dropped:
            parts.append(f"{dropped:,} more line{'s' if dropped != 1 else ''}")
        if wide:
            parts.append(f"{wide:,} line{'s' if wide != 1 else ''} cut at {size.columns} columns")
        note = f"({', '.join(parts)}: :cut off shows all)"
        if len(note) > size.columns:
            note = "(cut to fit: :cut off shows all)"
        out.append((NOTE_STYLE, note + "\n"))
    return out
