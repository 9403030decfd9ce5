"""The documentation is executed: README.md and docs/*.md cannot drift from the program.

Conventions for code blocks:
- ```console: lines starting with `$ ` are shell commands (run in the repository root, with this
  environment's `rasp` first on PATH); the lines after a command are its expected output. A line
  `...` stands for any number of lines.
- ```pycon: a doctest; every page's doctests share one namespace that starts with
  `import rasp` and `env = rasp.Environment()`.
- ```rasp: a program; it must run without error (in a fresh environment).
- ```python: executed in the page's namespace.
- ```bash: commands that must exit 0, except a block right after `<!-- not run: REASON -->`.
Any other language is shown as text and not run.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import rasp

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(<!-- not run: [^>]*-->\s*)?^```(\w+)[^\n]*\n(.*?)^```\s*$",
                   re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    skip: bool


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [Block(page, text.count("\n", 0, m.start(2)) + 1, m.group(2), m.group(3),
                  m.group(1) is not None) for m in FENCE.finditer(text)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "80"
    env.pop("CI", None)
    return env


def _run(command: str) -> str:
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)
    return proc.stdout + proc.stderr


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line equality (trailing spaces ignored), where `...` matches any lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0].rstrip() == actual[0].rstrip() and \
        _matches(expected[1:], actual[1:])


def check_console(block: Block) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
    assert commands, f"{block.page.name}:{block.line}: a console block without a command"
    for command, expected in commands:
        actual = _run(command).rstrip("\n").splitlines()
        while expected and not expected[-1].strip():
            expected.pop()
        assert _matches(expected, actual), (
            f"{block.page.name}:{block.line}: `{command}` printed:\n" + "\n".join(actual))


ALL = [b for page in PAGES for b in blocks(page)]


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "console"],
                         ids=lambda b: f"{b.page.name}:{b.line}")
def test_console(block):
    check_console(block)


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "rasp"],
                         ids=lambda b: f"{b.page.name}:{b.line}")
def test_rasp_program(block, monkeypatch):
    monkeypatch.chdir(ROOT)
    rasp.Environment().run(block.body, f"{block.page.name}:{block.line}")


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "bash"],
                         ids=lambda b: f"{b.page.name}:{b.line}")
def test_bash(block):
    if block.skip:
        pytest.skip("marked <!-- not run -->")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.body], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("page", [p for p in PAGES if any(
    b.lang in ("pycon", "python") for b in blocks(p))], ids=lambda p: p.name)
def test_python_and_doctests(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {"rasp": rasp, "env": rasp.Environment()}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for block in blocks(page):
        if block.lang == "python":
            exec(compile(block.body, f"{page.name}:{block.line}", "exec"), namespace)
        elif block.lang == "pycon":
            test = parser.get_doctest(block.body, namespace, page.name, str(page), block.line)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # doctest ran on a copy: keep its names for later blocks
    assert runner.failures == 0, f"{runner.failures} doctest failure(s) in {page.name}"


def test_docs_site_builds_without_warnings(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not (ROOT / "mkdocs.yml").exists():
        pytest.fail("mkdocs.yml is missing")
    proc = subprocess.run([str(mkdocs), "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "site" / "language" / "index.html").read_text()
    assert 'class="codehilite"' in page and '<span class="k">' in page  # rasp highlighted


def test_readme_main_job_runs():
    """The README's first command (its block is not run, to keep the test suite from
    running itself): the main job, on an installed checkout."""
    proc = subprocess.run(["bash", "scripts/demo"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sort(tokens_int, tokens_int)([3, 1, 2]) = [1, 2, 3] (ints)" in proc.stdout
