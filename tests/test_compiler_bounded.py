"""Bounded time: long and deep programs get their verdict quickly, a compile past its time
limit is a CompileError, and progress is reported (see `budget`)."""

from __future__ import annotations

import io
import time

import pytest

import compiler
from compiler.budget import Budget, StderrProgress
from compiler.errors import CompileError
from compiler.structure import StructKeys
from compiler.testing import CHAIN_VOCAB, assert_exact, chain_program, dag_program, env_with


def _cpu(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


@pytest.mark.slow
def test_a_thousand_line_program_of_conditional_reassignments_gets_a_verdict_fast():
    source = chain_program(450)
    assert source.count("\n") > 900
    env = env_with(source)
    prog, cpu = _cpu(lambda: compiler.compile(env, "x", vocab=CHAIN_VOCAB, max_len=8))
    assert cpu < 30, cpu
    assert_exact(prog, CHAIN_VOCAB, 4)


def test_a_chain_of_tests_on_the_word_and_its_neighbours_is_one_mlp():
    """900 reassignments `x = "v" if word == a and prev == b and nxt == c else x` over three
    variables are all functions of (word, prev, nxt): one MLP over the token and two heads,
    not one layer per step (273 layers and 222M parameters before fusion read the token)."""
    words = ["john", "mary", "sees", "not", "and"]
    lines = [
        "word = tokens;",
        'prev = aggregate(select(indices + 1, indices, ==), word, "#");',
        'nxt = aggregate(select(indices - 1, indices, ==), word, "#");',
        'a = "-"; b = "-"; c = "-";',
    ]
    for i in range(900):
        var = "abc"[i % 3]
        w, p, n = words[i % 5], words[(i // 5) % 5], (["#", *words])[i % 6]
        lines.append(
            f'{var} = "v{i % 11}" if word == "{w}" and prev == "{p}" and nxt == "{n}" else {var};'
        )
    lines.append("result = a + b + c;")
    env = env_with("\n".join(lines))
    prog, cpu = _cpu(lambda: compiler.compile(env, "result", vocab=words, max_len=8))
    assert cpu < 20, cpu
    assert prog.stats["layers"] <= 2
    assert_exact(prog, words, 5)


def test_a_dag_with_an_astronomical_tree_expansion_compiles_in_linear_time():
    env = env_with(dag_program(36))  # about 2**36 paths from the top to the tokens
    prog, cpu = _cpu(lambda: compiler.compile(env, "a36", vocab=[0, 1, 2], max_len=8))
    assert cpu < 20, cpu
    assert_exact(prog, [0, 1, 2], 4)


def test_structural_keys_are_shared_by_equal_subgraphs_and_cheap_on_deep_dags():
    env = env_with(dag_program(60) + "c = (a0 + b0) % 3;")
    keys = StructKeys()
    _, cpu = _cpu(lambda: keys.of(env.expression("a60")))
    assert cpu < 1.0
    assert keys.of(env.expression("a1")) == keys.of(env.expression("c"))
    assert keys.of(env.expression("a1")) != keys.of(env.expression("b1"))


def test_the_time_limit_ends_a_compile_with_a_compile_error():
    env = env_with(chain_program(60, dict_size=10))
    with pytest.raises(CompileError, match="limit of 0.01 CPU seconds"):
        compiler.compile(env, "x", vocab=CHAIN_VOCAB, max_len=8, time_limit=0.01)


def test_progress_names_the_stage_and_nodes_done():
    seen = []
    env = env_with(chain_program(5, dict_size=10))
    compiler.compile(env, "x", vocab=CHAIN_VOCAB, max_len=4, progress=lambda *a: seen.append(a))
    stages = {s for s, *_ in seen}
    assert {"value sets", "lowering", "placing", "weights"} <= stages
    assert all(0 <= done <= total for _, done, total, _ in seen)
    assert seen[-1][:3] == ("weights", 1, 1)  # the last tick: every layer written


def test_the_time_limit_holds_while_weights_are_placed_and_written(monkeypatch):
    """Assembly ticks the budget too: a compile whose lowering ends just inside its limit
    cannot return a model past it (dyck2@512 returned one at 3.5 CPU-s under a 2 s limit).
    Here the clock jumps an hour once placing begins."""
    import compiler.budget as budget_mod

    real, jumped = time.thread_time, []
    monkeypatch.setattr(budget_mod.time, "thread_time", lambda: real() + 3600 * len(jumped))

    def progress(stage: str, done: int, total: int, elapsed: float) -> None:
        if stage == "placing":
            jumped[:] = [True]

    env = env_with(chain_program(5, dict_size=10))
    with pytest.raises(CompileError, match=r"limit of 60 CPU seconds passed \(placing, 0 of"):
        compiler.compile(env, "x", vocab=CHAIN_VOCAB, max_len=4, time_limit=60, progress=progress)


def test_stderr_progress_waits_then_writes_one_line_and_clears_it():
    out = io.StringIO()
    show = StderrProgress(after=2.0, every=0.5, stream=out)
    show("lowering", 1, 10, 1.0)
    assert out.getvalue() == ""
    show("lowering", 2, 10, 2.5)
    show("lowering", 3, 10, 2.6)  # too soon after the last
    assert out.getvalue().count("compiling:") == 1 and "2/10" in out.getvalue()
    show.close()
    assert out.getvalue().endswith("\r\x1b[K")


def test_a_budget_without_a_limit_never_refuses():
    Budget(limit=None, start=0.0).tick("lowering", 0, 1)
    with pytest.raises(CompileError, match="limit of 1 CPU seconds"):
        Budget(limit=1.0, start=0.0).tick("lowering", 0, 1)


def test_ctrl_c_in_the_middle_of_a_cli_compile_ends_it_with_one_line(monkeypatch, capsys, tmp_path):
    """Ctrl-C while lowering (the interrupt raised from the progress callback, where the
    compile is) ends `rasp compile` with one line and status 130, no traceback; the progress
    line is cleared and the garbage collector a compile pauses is back on."""
    import gc

    from compiler import budget, cli

    closed = []

    class CtrlC(StderrProgress):
        def __call__(self, stage: str, done: int, total: int, elapsed: float) -> None:
            if stage == "lowering" and done >= 3:
                raise KeyboardInterrupt

        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(budget, "StderrProgress", CtrlC)
    path = tmp_path / "chain.rasp"
    path.write_text(chain_program(20, dict_size=10))
    assert gc.isenabled()
    with pytest.raises(SystemExit) as stop:
        cli._compile(str(path), "x", CHAIN_VOCAB, 8)
    assert stop.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"
    assert closed and gc.isenabled()
