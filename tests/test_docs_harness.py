"""The docs test's own harness (tests/docs_blocks.py): numbers compare within a block's
tolerance and only there, blocks and REPL sessions parse as the pages write them, doctests use
the tolerance, and the scratch copy keeps the blocks' writes out of the checkout."""

from __future__ import annotations

import pytest
from docs_blocks import (
    ROOT,
    TOLERANCE,
    Tolerance,
    ToleranceChecker,
    blocks,
    make_workspace,
    repl_inputs,
    run_command,
    same_line,
)


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


def test_doctests_use_the_blocks_tolerance():
    checker = ToleranceChecker()
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
    out = run_command(
        "mkdir -p out && echo x > out/f && echo y > docs/img/g.png && ls out docs/img", copy
    )
    assert out.split() == ["docs/img:", "g.png", "out:", "f"]
    assert not (ROOT / "docs" / "img" / "g.png").exists()
