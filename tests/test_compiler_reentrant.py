"""Re-entrant: no process-wide state kept. Compiles do not slow down with the number of
compiles before them, compiles in two threads give what one thread gives, and the garbage
collector a compile pauses is left as it was found."""

from __future__ import annotations

import gc
import importlib.util
import json
import threading
from pathlib import Path

import pytest

import compiler
from compiler.testing import env_with

SORT = (
    "smaller = select(tokens_int, tokens_int, <);"
    "target = selector_width(smaller);"
    "s = aggregate(select(target, indices, ==), tokens_int);"
)


def test_compiles_leave_nothing_behind():
    """No state grows with the number of compiles (what made compile 1,000 slower than
    compile 1 when plan nodes lived in a process-wide registry): after a warm-up, 200
    compiles leave no object behind. `benchmarks/compiler_repeat.py` times 2,000."""
    env = env_with(SORT)
    for _ in range(20):  # lazy imports and fixed-size caches fill here
        compiler.compile(env, "s", vocab=[1, 2, 3, 4], max_len=6)
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        compiler.compile(env, "s", vocab=[1, 2, 3, 4], max_len=6)
    gc.collect()
    assert len(gc.get_objects()) - before < 50


def test_two_threads_compile_what_one_thread_compiles():
    def manifest(prog):
        m = prog.manifest.to_json()
        m.pop("compile_seconds")
        return json.dumps(m, sort_keys=True, default=repr)

    env = env_with(SORT)  # one program, shared by the threads
    alone = {
        name: manifest(compiler.compile(env, name, vocab=[1, 2, 3, 4], max_len=5))
        for name in ("s", "target")
    }
    got: dict[str, list[str]] = {"s": [], "target": []}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for _ in range(5):
                prog = compiler.compile(env, name, vocab=[1, 2, 3, 4], max_len=5)
                got[name].append(manifest(prog))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("s", "target")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name in alone:
        assert got[name] == [alone[name]] * 5


def test_the_repeat_benchmark_prints_both_medians(capsys):
    spec = importlib.util.spec_from_file_location(
        "compiler_repeat",
        Path(__file__).resolve().parent.parent / "benchmarks" / "compiler_repeat.py",
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--compiles", "4", "--max-len", "3"]) == 0
    out = capsys.readouterr().out
    assert "4 compiles in one process" in out and "last / first:" in out


def test_a_compile_leaves_the_garbage_collector_as_it_found_it():
    env = env_with(SORT)
    assert gc.isenabled()
    compiler.compile(env, "s", vocab=[1, 2], max_len=3)
    assert gc.isenabled()
    gc.disable()
    try:
        compiler.compile(env, "s", vocab=[1, 2], max_len=3)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(compiler.CompileError):
        compiler.compile(env, "s", vocab=[1, 2], max_len=0)
    assert gc.isenabled()
