"""Every case computed by the original RASP (tests/data/cases.json) holds through the API."""

import json
import math
from pathlib import Path

import pytest

import rasp
from rasp import Applied
from rasp.format import format_applied, format_plain

CASES = json.loads((Path(__file__).parent / "data" / "cases.json").read_text())


def _same(a, b) -> bool:
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def _expected(case):
    out = case["output"]
    if case["kind"] == "selector":
        return [[bool(c) for c in row] for row in out]
    if isinstance(out, dict) and "dict" in out:
        return {k: v for k, v in out["dict"]}
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case):
    env = rasp.Environment()
    if case["kind"] == "error":
        with pytest.raises(rasp.RaspError):
            env.run(case["source"])
            env.evaluate(case["expr"], case["input"])
        return
    env.run(case["source"])
    got = env.evaluate(case["expr"], case["input"])
    want = _expected(case)
    if isinstance(want, dict):
        assert got == want
    else:
        assert _same(want, got), f"{got!r} != {want!r}"


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["kind"] != "error"],
    ids=[c["id"] for c in CASES if c["kind"] != "error"],
)
def test_printed(case):
    """The REPL's echo of `(expr)(input);` is the original's, character for character."""
    env = rasp.Environment()
    env.run(case["source"])
    if case["input"] is None:
        value = env.evaluate(case["expr"])
        if case["kind"] == "value" and not isinstance(value, list | dict):
            assert f"    value: out =  {format_plain(value)}\n" == case["printed"]
        return
    node = env.expression(case["expr"])
    result = Applied(node, list(case["input"]), env.evaluate(case["expr"], case["input"]))
    assert format_applied(result) + "\n" == case["printed"]
