"""The documentation is executed: README.md and docs/*.md cannot drift from the program.

Every code block of the pages runs here as tests/docs_blocks.py describes (console commands,
REPL sessions, programs, doctests, bash), in a scratch copy of the checkout, and prints what
the page shows; the last test checks that none of it changed a tracked file. The comparison
itself is tested in tests/test_docs_harness.py, the built site in tests/test_docs_site.py.
"""

from __future__ import annotations

import doctest
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from docs_blocks import (
    PAGES,
    ROOT,
    Block,
    ToleranceChecker,
    blocks,
    command_env,
    console_commands,
    make_workspace,
    matches,
    repl_inputs,
    run_command,
    run_repl,
    trimmed,
)

import rasp
from rasp.repl import ReplSession


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
        actual = run_command(command, workspace).rstrip("\n").splitlines()
        assert matches(trimmed(expected), actual, block.tolerance), (
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
            if not matches(trimmed(expected), actual, block.tolerance):
                failures.append(f"{block.where}: >> {text}\nprinted:\n" + "\n".join(actual))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "bash"], ids=_ids)
def test_bash(block, workspace):
    if block.skip:
        pytest.skip("marked <!-- not run -->")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=workspace,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(b.lang in ("pycon", "python") for b in blocks(p))],
    ids=lambda p: p.name,
)
def test_python_and_doctests(page, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    namespace: dict = {"rasp": rasp, "env": rasp.Environment()}
    parser, checker = doctest.DocTestParser(), ToleranceChecker()
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
        ["bash", "scripts/demo"],
        cwd=ROOT,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sort(tokens_int, tokens_int)([3, 1, 2]) = [1, 2, 3] (ints)" in proc.stdout


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
