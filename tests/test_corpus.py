"""Issue 15's acceptance corpus: RASP programs written elsewhere than `examples/` (the paper's
style with an explicit BOS, Tracr's library style, RASP-L, long research-REPL programs).

Every program's header examples hold in the interpreter, and every program compiles at
max_len 5, 16 and 32 to a model that agrees with the interpreter on every checked input,
value and type (1 is not 1.0), each configuration within `TIME_LIMIT` seconds in a forked
child. A
refusal must be a `CompileError` that names file:line:col, and must be listed, with the
first words of its reason, in tests/corpus/refusals.txt; a listed configuration that
compiles fails too, so the list stays true. The long programs (over 300 lines) run at every
length too (2-10 s each at 32) and are marked slow; `benchmarks/compiler_coverage.py` runs
the whole matrix up to 64.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import rasp
from rasp.examples import read_header
from rasp.format import format_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))
import runner  # noqa: E402

LENGTHS = (5, 16, 32)
LONG_LINES = 300
TIME_LIMIT = 30.0  # seconds per configuration, compile and verification together
SAMPLES = 300  # random inputs per check where the inputs are too many to enumerate

PROGRAMS = runner.programs()
REFUSALS = runner.read_refusals()


# the heaviest short configurations (5-30 s each on a loaded 2-core machine)
HEAVY = {("tracr_sort_freq", 32), ("raspl_mode", 32), ("tracr_sort", 32)}


def _slow(program: runner.Program, n: int) -> bool:
    return program.lines > LONG_LINES or (program.name, n) in HEAVY


CONFIGS = [
    pytest.param(p, n, id=f"{p.name}-{n}", marks=[pytest.mark.slow] if _slow(p, n) else [])
    for p in PROGRAMS
    for n in LENGTHS
]


def test_corpus_is_big_enough():
    names = [p.name for p in PROGRAMS]
    assert len(names) >= 40
    for style in ("paper_", "tracr_", "raspl_", "long_"):
        assert any(n.startswith(style) for n in names), style
    assert sum(LONG_LINES <= p.lines <= 1000 for p in PROGRAMS) >= 3
    examples = {p.stem for p in (runner.ROOT / "examples").glob("*.rasp")}
    assert not examples & set(names)


def test_refusal_list_names_real_configurations():
    names = {p.name for p in PROGRAMS}
    for (name, n), reason in REFUSALS.items():
        assert name in names, f"refusals.txt: no corpus program {name!r}"
        assert n in LENGTHS, f"refusals.txt: {name} is not tested at {n}"
        assert reason, f"refusals.txt: {name} {n} needs the first words of its reason"


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_header_examples_hold(program):
    header = read_header(str(runner.ROOT / program.path))
    assert header.name == program.name
    assert len(header.examples) >= 2, "two examples at least"
    assert 2 <= len(program.vocab) <= 13
    env = rasp.Environment()
    env.run_file(str(runner.ROOT / program.path))
    for ex in header.examples:
        # a vocabulary 0,1 is read as ints; "0110" is the same input as [0, 1, 1, 0]
        assert {str(t) for t in ex.input} <= {str(v) for v in program.vocab}, ex.input
        printed = format_sequence(env.evaluate(program.expr, ex.input))
        assert ex.output in (printed, printed.rsplit(" (", 1)[0]), (ex.input, printed)


@pytest.fixture(scope="module")
def loaded():
    """The children fork with the compiler already imported."""
    runner.preload()


@pytest.mark.parametrize(("program", "max_len"), CONFIGS)
def test_compiles_exactly_or_is_a_listed_refusal(loaded, program, max_len):
    out = runner.run(program, max_len, TIME_LIMIT, SAMPLES)
    listed = REFUSALS.get((program.name, max_len))
    where = f"{program.path} at max_len {max_len}"
    assert out.verdict != "timeout", f"{where}: no verdict within {TIME_LIMIT:g} s"
    assert out.verdict != "error", f"{where}: raw exception: {out.message}"
    assert out.verdict != "wrong", f"{where}: the compiled model is wrong: {out.message}"
    if out.verdict == "refused":
        assert out.located, f"{where}: a refusal without file:line:col: {out.message}"
        reason = runner.reason_of(out.message)
        assert listed is not None, (
            f"{where}: newly refused (add `{program.name} {max_len} "
            f"{' '.join(reason.split()[:6])}` to tests/corpus/refusals.txt if it must "
            f"be): {out.message}"
        )
        assert reason.startswith(listed), f"{where}: refused for another reason: {reason}"
    else:
        assert listed is None, (
            f"{where}: compiles exactly now; remove it from tests/corpus/refusals.txt"
        )


def test_a_check_that_runs_out_is_told_apart_from_a_compile_that_does(loaded, tmp_path):
    """The check against the interpreter has its own limit (`compiler_scale.py` gives the
    60M-parameter models of max_len 512 longer to check than to compile); running out of it
    is a timeout of the check whose outcome still carries the compiled model's stats and the
    compile's time, so the model is not counted as missing."""
    path = tmp_path / "rev.rasp"
    path.write_text("rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n")
    program = runner.Program("rev", str(path), "rev", ("a", "b", "c"), 1)
    # 20,000 inputs of up to 64 tokens take seconds to check; the limit ends it at once
    out = runner.run(program, 64, TIME_LIMIT, samples=20_000, check_limit=0.01)
    assert out.verdict == "timeout"
    assert out.message.startswith(runner.CHECK_TIMEOUT), out.message
    assert out.stats["d_model"] == 13
    assert 0 < out.cpu_seconds < TIME_LIMIT


# Tracr's library as Tracr writes it (tests/corpus/tracr_*) and the same function written
# plainly in examples/: two phrasings, one size (issue 15: make_sort_freq was 13x wider)
SAME_FUNCTION = [
    ("tracr_length", "length", ["a", "b", "c"]),
    ("tracr_sort_freq", "sort_freq", ["a", "b", "c"]),
    ("tracr_hist", "hist", ["a", "b", "c"]),
    ("tracr_sort", "sort", [1, 2, 3, 4]),
    ("tracr_sort_unique", "sort_unique", list(range(8))),
]


def _compiled(path: Path, vocab: list, max_len: int):
    import compiler
    from rasp.env import read_source

    header = read_header(str(path)).compile
    env = rasp.Environment()
    env.run(read_source(str(path)), str(path))
    return env, header.expr, compiler.compile(env, header.expr, vocab=vocab, max_len=max_len)


@pytest.mark.parametrize(
    ("tracr", "plain", "vocab"), SAME_FUNCTION, ids=[t for t, _, _ in SAME_FUNCTION]
)
def test_tracr_style_programs_compile_to_the_size_of_the_same_function_written_plainly(
    tracr, plain, vocab
):
    from compiler import verify as check

    inputs, _ = check.inputs_for(vocab, 6, samples=200, limit=200)
    for n in (16, 32):
        t_env, t_expr, t_prog = _compiled(runner.CORPUS / f"{tracr}.rasp", vocab, n)
        p_env, p_expr, p_prog = _compiled(runner.ROOT / "examples" / f"{plain}.rasp", vocab, n)
        assert t_prog.stats == p_prog.stats, n
    for x in inputs:  # one function: the same outputs (values and types) on every input
        assert repr(t_env.evaluate(t_expr, x)) == repr(p_env.evaluate(p_expr, x)), x
