"""Helpers for the compiler's tests: compile a program and check it exactly against the
interpreter on every input up to a small length."""

from __future__ import annotations

import os
import random

import compiler
import rasp
from compiler import verify as check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_with(source: str = "") -> rasp.Environment:
    env = rasp.Environment()
    if source:
        env.run(source)
    return env


def assert_exact(prog: compiler.CompiledProgram, vocab, max_len: int) -> check.Report:
    inputs, exhaustive = check.inputs_for(vocab, max_len, samples=3000)
    assert prog.node is not None, "a program compiled by compiler.compile keeps its s-op"
    report = check.verify(prog, prog.node, inputs, exhaustive)
    assert report.first is None, report.first.describe()
    return report


def compile_exact(source: str, expr: str, vocab, max_len: int = 4, **kw):
    prog = compiler.compile(env_with(source), expr, vocab=vocab, max_len=max_len, **kw)
    assert_exact(prog, vocab, max_len)
    return prog


def chain_program(steps: int, dict_size: int = 800, seed: int = 0) -> str:
    """A long program in the style of research code written for the original REPL: a large
    dictionary, then `steps` conditional reassignments `x = K if c else x;` whose conditions
    read the previous x (two lines per step). Vocabulary: CHAIN_VOCAB."""
    rng = random.Random(seed)
    entries = [f'"{w}": {i}' for i, w in enumerate(CHAIN_VOCAB)]
    entries += [f'"w{i}": {i % 7}' for i in range(dict_size - len(CHAIN_VOCAB))]
    lines = [
        "d = {" + ", ".join(entries) + "};",
        "t = d[tokens];",
        "prev = aggregate(select(indices, indices - 1, ==), t, 0);",
        "nxt = aggregate(select(indices, indices + 1, ==), t, 0);",
        "x = 0;",
    ]
    for i in range(steps):
        src = rng.choice(["t", "prev", "nxt"])
        lines.append(f"c{i} = {src} == {rng.randrange(5)} and (x < {rng.randrange(1, 6)});")
        lines.append(f"x = {rng.randrange(6)} if c{i} else x;")
    return "\n".join(lines) + "\n"


CHAIN_VOCAB = ["the", "cat", "sat", "on", "mat"]


def dag_program(depth: int) -> str:
    """Two s-ops per level, each reading both of the level below: `depth` levels have about
    2**depth paths from the top to the tokens (a tree expansion that size), and an
    aggregate every fourth level keeps elementwise fusion from swallowing it all."""
    lines = ["a0 = tokens_int;", "b0 = aggregate(select(indices, indices - 1, ==), a0, 0);"]
    for i in range(1, depth + 1):
        lines.append(f"a{i} = (a{i - 1} + b{i - 1}) % 3;")
        if i % 4 == 0:
            lines.append(f"b{i} = aggregate(select(indices, indices - 1, ==), a{i}, 0);")
        else:
            lines.append(f"b{i} = (a{i - 1} * b{i - 1} + 1) % 3;")
    return "\n".join(lines) + "\n"
