"""The API on every example: compiled, run and verified exactly; inputs checked."""

from __future__ import annotations

import glob
import os

import pytest

import compiler
import rasp
from compiler.testing import ROOT, assert_exact, env_with
from rasp.examples import read_header

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.rasp")))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_examples_compile_and_verify_exactly(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    header = read_header(path).compile
    if header is None:
        pytest.skip("no compile header")
    env = rasp.Environment()
    env.run(open(path).read(), os.path.relpath(path, ROOT))
    # every example must compile (a refusal fails), and exactly, over its header's whole
    # vocabulary (dyck3's 6 tokens, sort_unique's 10: under a second each)
    for n in (1, 5, 16):
        prog = compiler.compile(env, header.expr, vocab=header.vocab, max_len=n)
        assert_exact(prog, header.vocab, n)


def test_run_rejects_unknown_tokens_and_long_inputs():
    prog = compiler.compile(env_with(), "tokens", vocab=["a", "b"], max_len=3)
    with pytest.raises(ValueError, match="vocabulary"):
        prog.run("az")
    with pytest.raises(ValueError, match="longer"):
        prog.run("abab")
