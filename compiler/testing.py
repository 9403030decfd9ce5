"""Helpers for the compiler's tests: compile a program and check it exactly against the
interpreter on every input up to a small length."""

from __future__ import annotations

import os

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
    report = check.verify(prog, prog.node, inputs, exhaustive)
    assert report.ok, report.first.describe()
    return report


def compile_exact(source: str, expr: str, vocab, max_len: int = 4, **kw):
    prog = compiler.compile(env_with(source), expr, vocab=vocab, max_seq_len=max_len, **kw)
    assert_exact(prog, vocab, max_len)
    return prog
