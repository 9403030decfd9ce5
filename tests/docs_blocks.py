"""The docs' code blocks: how README.md and docs/*.md are read, run and compared, for the docs
tests (tests/test_docs.py runs the blocks) and tests/update_docs.py (refreshes their output).

Conventions for code blocks:
- ```console: lines starting with `$ ` are shell commands (run with this environment's `rasp`
  first on PATH); the lines after a command are its expected output. A line `...` stands for
  any number of lines.
- ```rasp whose first line starts with `>> `: a REPL session, run through the engine of the
  terminal REPL (`rasp.repl.ReplSession(interactive=True)`). `>> ` starts an input, `.. `
  continues it, the other lines are the output expected (`...` as above). A page's sessions
  are one REPL session, in page order.
- ```rasp otherwise: a program; it must parse and run without error (in a fresh environment).
  With a title naming a file (```` ```rasp title="examples/reverse.rasp" ````) it must be
  that file's text, shown whole.
- ```pycon: a doctest; every page's doctests share one namespace that starts with
  `import rasp` and `env = rasp.Environment()`.
- ```python: executed in the page's namespace.
- ```bash: commands that must exit 0, except a block right after `<!-- not run: REASON -->`.
Any other language is shown as text and not run.

Output is compared line by line; trailing blanks are ignored and tabs expanded. Numbers that
depend on the machine (trained models, fits on them: the CPU model changes the floats) are
marked per block: an info string with `±N%`, shown on the page as the block's title
(```` ```console title="numbers vary by machine: ±25%" ````), lets every number in the block
differ from the shown one by N% of it plus one unit of its last shown digit, while the text
around the numbers must be equal; `±N% or ±A` allows a difference of A where that is more
(for numbers near 0, such as an excess perplexity), and `, ×F over B` lets numbers over B be
off by a factor F (a perplexity on lengths the model never saw). Every other block is compared
exactly.

Blocks run in a scratch copy of the checkout (symlinks to its files, with docs/img, out/ and
runs/ of its own), so nothing they write lands in the checkout; the last test of
tests/test_docs.py checks that no tracked page, image, example or data file changed.
`python tests/update_docs.py` runs the console blocks in the checkout itself: it refreshes the
shown output and writes the images under docs/img.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rasp.repl import ReplSession, text_of

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"(<!-- not run: [^>]*-->\s*)?^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL
)
TOLERANCE = re.compile(
    r"±(\d+(?:\.\d+)?)%(?: or ±(\d+(?:\.\d+)?))?(?:, ×(\d+(?:\.\d+)?) over (\d+(?:\.\d+)?))?"
)
SOURCE = re.compile(r'title="([\w./-]+\.rasp)"')
# A number standing alone (not inside a name like `1x8` or `d_model`): thousands separators,
# a fraction, an exponent, and a unit suffix (k, M, G, %) are allowed.
NUMBER = re.compile(
    r"(?<![\w.])(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+-]?\d+)?)"
    r"(?=[kMG%]?(?![\w.]))"
)
PROMPT, MORE = ">> ", ".. "


@dataclass(frozen=True)
class Tolerance:
    """How far a shown number may be from the printed one: `rel` of it, or `abs` if larger;
    a number over `over` within a factor `factor` (a perplexity far from the training data,
    the exponential of a loss that varies by machine, moves by factors, not percents)."""

    rel: float
    abs: float = 0.0
    factor: float = 1.0
    over: float = float("inf")

    @staticmethod
    def parse(found: re.Match | None) -> Tolerance | None:
        if found is None:
            return None
        rel, abs_, factor, over = found.groups()
        return Tolerance(
            float(rel) / 100,
            float(abs_ or 0),
            float(factor or 1),
            float(over) if over else float("inf"),
        )


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    skip: bool
    tolerance: Tolerance | None  # from `±N%` (or `±N% or ±A`) in the info string
    source: str | None  # the file a ```rasp block shows, from its title

    @property
    def is_repl(self) -> bool:
        return self.lang == "rasp" and self.body.startswith(PROMPT.rstrip())

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for m in FENCE.finditer(text):
        tol, source = TOLERANCE.search(m.group(3)), SOURCE.search(m.group(3))
        found.append(
            Block(
                page,
                text.count("\n", 0, m.start(2)) + 1,
                m.group(2),
                m.group(4),
                m.group(1) is not None,
                Tolerance.parse(tol),
                source.group(1) if source else None,
            )
        )
    return found


# ---- comparing output ----------------------------------------------------------------------


def _close(shown: str, actual: str, tol: Tolerance) -> bool:
    """`actual` within `tol` of `shown`, plus one unit of `shown`'s last digit."""
    mantissa, _, exponent = shown.replace(",", "").partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals) if decimals or exponent else 0.0
    want, got = float(shown.replace(",", "")), float(actual.replace(",", ""))
    if abs(want) > tol.over and want * got > 0:
        return abs(want) / tol.factor <= abs(got) <= abs(want) * tol.factor
    return abs(got - want) <= max(tol.rel * abs(want), tol.abs) + unit


def same_line(expected: str, actual: str, tol: Tolerance | None = None) -> bool:
    expected, actual = expected.expandtabs().rstrip(), actual.expandtabs().rstrip()
    if expected == actual or tol is None:
        return expected == actual
    want, got = NUMBER.split(expected), NUMBER.split(actual)  # text, number, text, ...
    return len(want) == len(got) and all(
        (w == g) if i % 2 == 0 else _close(w, g, tol)
        for i, (w, g) in enumerate(zip(want, got, strict=True))
    )


def matches(expected: list[str], actual: list[str], tol: Tolerance | None = None) -> bool:
    """Line by line (see `same_line`), where a line `...` matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:], tol) for i in range(len(actual) + 1))
    return (
        bool(actual)
        and same_line(expected[0], actual[0], tol)
        and matches(expected[1:], actual[1:], tol)
    )


def trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


class ToleranceChecker(doctest.OutputChecker):
    """doctest's own comparison, then the block's number tolerance when it has one."""

    tolerance: Tolerance | None = None

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, got, optionflags) or (
            self.tolerance is not None
            and matches(
                want.rstrip("\n").splitlines(), got.rstrip("\n").splitlines(), self.tolerance
            )
        )


# ---- running blocks ------------------------------------------------------------------------


def command_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "80"
    env.pop("CI", None)
    return env


def run_command(command: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.stdout + proc.stderr


def console_commands(body: str) -> list[tuple[str, list[str]]]:
    """The block's `$ ` commands, each with the lines shown under it."""
    commands: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
    return commands


def repl_inputs(body: str) -> list[tuple[str, list[str]]]:
    """The session's inputs (continuation lines joined with newlines), each with its output."""
    inputs: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith(PROMPT.rstrip()):
            inputs.append((line[len(PROMPT) :], []))
        elif line.startswith(MORE.rstrip()) and inputs and not inputs[-1][1]:
            inputs[-1] = (inputs[-1][0] + "\n" + line[len(MORE) :], [])
        elif inputs:
            inputs[-1][1].append(line)
    return inputs


def run_repl(session: ReplSession, text: str) -> list[str]:
    return text_of(session.run_text(text)).rstrip("\n").splitlines()


def make_workspace(where: Path) -> Path:
    """A scratch copy of the checkout: symlinks to its entries, with docs/img, out/ and runs/
    of its own, so that commands which write there leave the checkout as it was."""
    where.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in (".git", "docs", "out", "runs", "site"):
            (where / entry.name).symlink_to(entry)
    (where / "docs" / "img").mkdir(parents=True)
    for page in (ROOT / "docs").glob("*.md"):
        (where / "docs" / page.name).symlink_to(page)
    return where
