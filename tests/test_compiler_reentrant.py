"""Re-entrant: no process-wide state. Compiles do not slow down with the number of compiles
before them, and compiles in two threads give what one thread gives."""

from __future__ import annotations

import json
import threading
import time

import pytest

import compiler
from compiler.testing import env_with

SORT = (
    "smaller = select(tokens_int, tokens_int, <);"
    "target = selector_width(smaller);"
    "s = aggregate(select(target, indices, ==), tokens_int);"
)


def _cpu_of_one(env) -> float:
    start = time.process_time()
    compiler.compile(env, "s", vocab=[1, 2, 3, 4], max_len=6)
    return time.process_time() - start


@pytest.mark.slow
def test_compile_time_does_not_grow_with_earlier_compiles():
    env = env_with(SORT)
    times = [_cpu_of_one(env) for _ in range(2000)]
    first, last = sorted(times[:50])[25], sorted(times[-50:])[25]  # medians: steadier
    assert last <= 1.3 * first, (first, last)


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
