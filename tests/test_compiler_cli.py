"""`rasp compile`, `rasp exec`, `rasp verify`, and the plan they print."""

from __future__ import annotations

import json

from click.testing import CliRunner

import compiler
from compiler.testing import ROOT


def test_plan_fits_the_terminal(monkeypatch):
    monkeypatch.chdir(ROOT)
    prog = compiler.compile("examples/dyck2.rasp", "dyck2", vocab=list("(){}"), max_len=8)
    text = prog.plan_text(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" in text and "<- " in text and "examples/lib/dyck.rasp:" in text
    assert "…" not in prog.plan_text(500)


def test_cli_compile_exec_verify(tmp_path, monkeypatch):
    from compiler.cli import compile_command, exec_command, verify

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    out = tmp_path / "r.safetensors"
    res = runner.invoke(
        compile_command,
        [
            "examples/reverse.rasp",
            "-e",
            "reverse",
            "--vocab",
            "a,b,c",
            "--max-len",
            "6",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "layer 0" in res.output and "reverse" in res.output and "stats:" in res.output
    res = runner.invoke(compile_command, ["examples/reverse.rasp", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["stats"]["layers"] == 2
    plan = json.loads(res.output)["plan"]
    assert [layer["layer"] for layer in plan] == [0, 1]
    assert all(b["dims"] and b["role"] for layer in plan for b in layer["blocks"])
    res = runner.invoke(exec_command, [str(out), "-i", "abc", "-i", '["c", "a"]'])
    assert res.exit_code == 0 and "['c', 'b', 'a']" in res.output
    res = runner.invoke(exec_command, [str(out), "-i", "xyz"])
    assert res.exit_code == 1 and "vocabulary" in res.output
    res = runner.invoke(verify, ["examples/reverse.rasp", "--max-len", "5"])
    assert res.exit_code == 0 and "ok:" in res.output
    bad = tmp_path / "bad.rasp"
    bad.write_text('m = aggregate(select(indices, indices, <=), tokens_int, "x");\n')
    res = runner.invoke(compile_command, [str(bad), "-e", "m", "--vocab", "1,2", "--max-len", "3"])
    assert res.exit_code == 1 and "bad.rasp:1:" in res.output and "Traceback" not in res.output
    res = runner.invoke(compile_command, [str(bad)])
    assert res.exit_code == 2
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    res = runner.invoke(exec_command, [str(junk), "-i", "a"])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_an_empty_vocab_flag_says_so_not_that_the_header_is_missing(monkeypatch):
    """`--vocab ,` on a file whose header gives a vocabulary named the header as missing."""
    from compiler.cli import compile_command, verify

    monkeypatch.chdir(ROOT)
    for command in (compile_command, verify):
        res = CliRunner().invoke(command, ["examples/reverse.rasp", "--vocab", ","])
        assert res.exit_code == 2, res.output
        assert "--vocab needs at least one token, e.g. --vocab a,b,c" in res.output
        assert "header" not in res.output
