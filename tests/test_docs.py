"""The documentation is executed: README.md and docs/*.md cannot drift from the program.

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
runs/ of its own), so nothing they write lands in the checkout; the last test checks that no
tracked page, image, example or data file changed. `python tests/update_docs.py` runs the
console blocks in the checkout itself: it refreshes the shown output and writes the images
under docs/img.
"""

from __future__ import annotations

import doctest
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import rasp
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


def _matches(expected: list[str], actual: list[str], tol: Tolerance | None = None) -> bool:
    """Line by line (see `same_line`), where a line `...` matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(_matches(expected[1:], actual[i:], tol) for i in range(len(actual) + 1))
    return (
        bool(actual)
        and same_line(expected[0], actual[0], tol)
        and _matches(expected[1:], actual[1:], tol)
    )


def _trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


# ---- running blocks ------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "80"
    env.pop("CI", None)
    return env


def _run(command: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
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


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("checkout") / "raspc")


WATCHED = ("README.md", "docs", "examples", "benchmarks/results", "tests/data")


def _tracked_files() -> dict[str, str] | None:
    """The hash of every tracked file that the docs' blocks read or write near (the pages,
    their images, the examples and the data they load), or None outside a git checkout.
    (`.ci/run` checks the whole checkout after the whole suite.)"""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *WATCHED], cwd=ROOT, capture_output=True
    )
    if listed.returncode != 0:
        return None
    hashes = {}
    for name in filter(None, listed.stdout.decode().split("\0")):
        path = ROOT / name
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return hashes


@pytest.fixture(scope="module", autouse=True)
def tracked_before() -> dict[str, str] | None:
    return _tracked_files()


ALL = [b for page in PAGES for b in blocks(page)]


def _ids(block: Block) -> str:
    return block.where


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "console"], ids=_ids)
def test_console(block, workspace):
    commands = console_commands(block.body)
    assert commands, f"{block.where}: a console block without a command"
    for command, expected in commands:
        actual = _run(command, workspace).rstrip("\n").splitlines()
        assert _matches(_trimmed(expected), actual, block.tolerance), (
            f"{block.where}: `{command}` printed:\n" + "\n".join(actual)
        )


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "rasp" and not b.is_repl], ids=_ids)
def test_rasp_program(block, workspace, monkeypatch):
    if block.source:
        assert block.body == (ROOT / block.source).read_text(), f"{block.where}: not the file"
    monkeypatch.chdir(workspace)
    rasp.Environment().run(block.body, block.where)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b.is_repl for b in blocks(p))], ids=lambda p: p.name
)
def test_repl_sessions(page, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("COLUMNS", "80")
    session = ReplSession(interactive=True)
    failures = []
    for block in filter(lambda b: b.is_repl, blocks(page)):
        for text, expected in repl_inputs(block.body):
            actual = run_repl(session, text)
            if not _matches(_trimmed(expected), actual, block.tolerance):
                failures.append(f"{block.where}: >> {text}\nprinted:\n" + "\n".join(actual))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "bash"], ids=_ids)
def test_bash(block, workspace):
    if block.skip:
        pytest.skip("marked <!-- not run -->")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=workspace,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _Checker(doctest.OutputChecker):
    """doctest's own comparison, then the block's number tolerance when it has one."""

    tolerance: Tolerance | None = None

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, got, optionflags) or (
            self.tolerance is not None
            and _matches(
                want.rstrip("\n").splitlines(), got.rstrip("\n").splitlines(), self.tolerance
            )
        )


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(b.lang in ("pycon", "python") for b in blocks(p))],
    ids=lambda p: p.name,
)
def test_python_and_doctests(page, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    namespace: dict = {"rasp": rasp, "env": rasp.Environment()}
    parser, checker = doctest.DocTestParser(), _Checker()
    runner = doctest.DocTestRunner(
        checker=checker, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    for block in blocks(page):
        if block.lang == "python":
            exec(compile(block.body, block.where, "exec"), namespace)
        elif block.lang == "pycon":
            checker.tolerance = block.tolerance
            test = parser.get_doctest(block.body, namespace, page.name, str(page), block.line)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # doctest ran on a copy: keep its names for later blocks
    assert runner.failures == 0, f"{runner.failures} doctest failure(s) in {page.name}"


def test_readme_main_job_runs():
    """The README's first command (its block is not run, to keep the test suite from
    running itself): the main job, on an installed checkout."""
    proc = subprocess.run(
        ["bash", "scripts/demo"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sort(tokens_int, tokens_int)([3, 1, 2]) = [1, 2, 3] (ints)" in proc.stdout


# ---- the comparison itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "actual", "rtol", "same"),
    [
        ("sequence 86.1921 (6.4295 bits)", "sequence 81.4227 (6.3474 bits)", 0.25, True),
        ("sequence 86.1921 (6.4295 bits)", "sequence 181.4227 (7.5033 bits)", 0.25, False),
        ("outputs 1.0001 (0.0001 bits)", "outputs 1.0002 (0.0002 bits)", 0.25, True),
        ("outputs 1.0001 (0.0001 bits)", "outputs 1.0001 (0.0003 bits)", 0.25, False),
        ("outputs 1.0001 (0.0001 bits)", "outputs 1.3412 (0.4235 bits)", 0.25, False),
        ("N 6.28k, C 3.59e+07, 1,340", "N 6.31k, C 3.62e+07, 1,350", 0.05, True),
        ("3-gram 3.4410", "4-gram 3.4410", 0.25, False),  # an integer, 33% off
        ("model 1x8 1.826", "model 1x9 1.826", 0.25, False),  # not a number: exact
        ("exact match 100.00%", "exact match 100.00% (test)", 0.25, False),  # the text differs
        ("sequence 86.1921", "sequence 86.1922", None, False),  # no marker: exact
        ("a\tb  ", "a       b", None, True),  # tabs, trailing blanks
    ],
)
def test_numbers_compare_with_the_blocks_tolerance(shown, actual, rtol, same):
    assert same_line(shown, actual, None if rtol is None else Tolerance(rtol)) is same


def test_an_absolute_tolerance_covers_numbers_near_zero():
    tol = Tolerance.parse(TOLERANCE.search('title="numbers vary by machine: ±30% or ±0.01"'))
    assert tol == Tolerance(0.3, 0.01)
    assert same_line("excess 7.79e-05, 0.0453 bits", "excess 0.00312, 0.0521 bits", tol)
    assert not same_line("excess 7.79e-05, 0.0453 bits", "excess 0.0312, 0.0521 bits", tol)
    assert not same_line("perplexity 536.7593", "perplexity 736.7593", tol)


def test_a_factor_tolerance_covers_large_numbers_only():
    found = TOLERANCE.search('title="numbers vary by machine: ±30% or ±0.05, ×3 over 100"')
    tol = Tolerance.parse(found)
    assert tol == Tolerance(0.3, 0.05, 3.0, 100.0)
    assert same_line("perplexity 536.7593, 9.0681 bits", "perplexity 838.3070, 9.7113 bits", tol)
    assert not same_line("perplexity 536.7593", "perplexity 1700.0", tol)
    assert not same_line("perplexity 536.7593", "perplexity -600.0", tol)
    assert not same_line("perplexity 36.7593", "perplexity 60.0", tol)  # under 100: ±30%


def test_markers_and_sessions_are_parsed(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '# t\n\n```console title="numbers vary by machine: ±25%"\n$ true\n```\n\n'
        "```rasp\n>> def f(x) {\n..     return x;\n.. }\n     console function: f(x)\n"
        '>> set example "ab"\n```\n'
    )
    shell, session = blocks(page)
    assert (shell.line, shell.lang, shell.is_repl) == (3, "console", False)
    assert shell.tolerance == Tolerance(0.25)
    assert shell.source is None
    assert session.is_repl and session.tolerance is None
    assert repl_inputs(session.body) == [
        ("def f(x) {\n    return x;\n}", ["     console function: f(x)"]),
        ('set example "ab"', []),
    ]


# ---- the site ------------------------------------------------------------------------------


SPAN = re.compile(r'<span class="([\w-]+)">')
RASP_BLOCK = re.compile(
    r'<div class="language-rasp highlight">'
    r'(?:<span class="filename">[^<]*</span>)?<pre>.*?</pre></div>',
    re.DOTALL,
)
FETCHED = re.compile(
    r'<(?:script|img|iframe)[^>]*\ssrc="(https?:)?//|'
    r'<link[^>]*\shref="(https?:)?//|url\((["\']?)(https?:)?//|@import'
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env={**_env(), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _lexer_classes(source: str) -> list[str]:
    """The CSS classes raspc's lexer gives `source`, in order, whitespace left out."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    html = highlight(source, get_lexer_by_name("rasp"), HtmlFormatter(nowrap=True))
    return [c for c in SPAN.findall(html) if c != "w"]


def _coloured(css: str) -> set[str]:
    """The Pygments classes that a rule of `css` gives a colour."""
    classes: set[str] = set()
    for selectors, declarations in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if re.search(r"(^|;)\s*color:", declarations):
            classes.update(re.findall(r"\.highlight \.([\w-]+)\s*(?=,|$)", selectors))
    return classes


def test_site_colours_rasp_with_the_lexer_offline(site):
    """Every page with RASP shows it with the `rasp` lexer's classes, which a stylesheet of
    the site itself colours in the light and the dark scheme; nothing comes from the network."""
    css = "".join(p.read_text() for p in site.rglob("*.css"))
    coloured = _coloured(css)
    pages_with_rasp = 0
    for page in PAGES[1:]:
        folder = site if page.stem == "index" else site / page.stem
        html = (folder / "index.html").read_text()
        assert not FETCHED.search(html), f"{page.name}: the page fetches from the network"
        for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html):
            assert (folder / href).resolve().is_file(), f"{page.name}: {href} is not local"
        shown = [b for b in blocks(page) if b.lang == "rasp"]
        built = RASP_BLOCK.findall(html)
        assert len(built) == len(shown), f"{page.name}: {len(built)} of {len(shown)} rasp built"
        pages_with_rasp += bool(shown)
        for block, markup in zip(shown, built, strict=True):
            classes = [c for c in SPAN.findall(markup) if c not in ("w", "filename")]
            assert classes == _lexer_classes(block.body), f"{block.where}: not the rasp lexer's"
            assert {"nb", "o", "gp"} & set(classes), f"{block.where}: no builtin, operator, prompt"
            assert set(classes) <= coloured, f"{block.where}: uncoloured {set(classes) - coloured}"
    assert pages_with_rasp >= 3
    assert not FETCHED.search(css), "a stylesheet fetches from the network"
    for scheme in ("default", "slate"):  # the colours the rules above refer to, in each scheme
        assert re.search(
            rf"\[data-md-color-scheme={scheme}\][^}}]*--md-code-hl-keyword-color", css
        ), f"the {scheme} scheme has no code colours"


def test_doctests_use_the_blocks_tolerance():
    checker = _Checker()
    shown, near, far = "long 1149.7391\n", "long 1281.5120\n", "long 1981.5120\n"
    assert not checker.check_output(shown, near, 0)
    checker.tolerance = Tolerance(0.3)
    assert checker.check_output(shown, near, 0) and not checker.check_output(shown, far, 0)


def test_the_scratch_copy_keeps_writes_out_of_the_checkout(tmp_path):
    copy = make_workspace(tmp_path / "raspc")
    assert (copy / "examples" / "reverse.rasp").read_text() == (
        ROOT / "examples" / "reverse.rasp"
    ).read_text()
    assert not (copy / "docs" / "img").is_symlink() and not any((copy / "docs" / "img").iterdir())
    assert not any((copy / name).exists() for name in ("out", "runs", ".git"))
    out = _run("mkdir -p out && echo x > out/f && echo y > docs/img/g.png && ls out docs/img", copy)
    assert out.split() == ["docs/img:", "g.png", "out:", "f"]
    assert not (ROOT / "docs" / "img" / "g.png").exists()


def test_running_the_docs_leaves_tracked_files_alone(tracked_before):
    """Last in this module: every block above ran, and none of the watched files changed."""
    if tracked_before is None:
        pytest.skip("not a git checkout")
    after = _tracked_files()
    changed = sorted(
        name
        for name in tracked_before.keys() | after.keys()
        if tracked_before.get(name) != after.get(name)
    )
    assert not changed, f"the docs' blocks changed tracked files: {changed}"
