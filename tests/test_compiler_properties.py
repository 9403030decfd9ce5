"""Differential test: random well-typed RASP programs either compile to a model that matches the
interpreter on every input up to the maximum length, or are refused with a CompileError.

The examples are derandomised (the same ones every run, so a CI failure reproduces); set
RASPC_EXPLORE=N to draw N times as many at random instead (with `--hypothesis-seed`)."""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import compiler
import rasp
from compiler import verify as check
from compiler.errors import CompileError
from rasp.errors import RaspError

VOCAB = [0, 1, 2]
MAX_LEN = 4

CMP = ["==", "<", "<=", ">", ">=", "!="]


@st.composite
def num(draw, depth: int = 3) -> str:
    """An integer- or float-valued s-op."""
    leaves = ["tokens_int", "indices", "length"]
    if depth <= 0:
        return draw(st.sampled_from(leaves))
    kind = draw(
        st.sampled_from(
            [
                "leaf",
                "const",
                "binop",
                "ternary",
                "indicator",
                "width",
                "mean",
                "mean",
                "rank",
                "by_rank",
                "count",
            ]
        )
    )
    sub = lambda: draw(num(depth - 1))  # noqa: E731
    c = draw(st.integers(1, 3))
    match kind:
        case "leaf":
            return draw(st.sampled_from(leaves))
        case "const":
            op = draw(st.sampled_from(["+", "-", "*", "%"]))
            return f"({sub()} {op} {c})"
        case "binop":
            op = draw(st.sampled_from(["+", "-"]))
            return f"({sub()} {op} {sub()})"
        case "ternary":
            return f"({sub()} if {draw(boolean(depth - 1))} else {sub()})"
        case "indicator":
            return f"indicator({draw(boolean(depth - 1))})"
        case "width":
            return f"selector_width({draw(selector(depth - 1))})"
        case "rank" | "by_rank":  # idioms the compiler reasons about (ranks, sorting)
            x = sub()
            op = draw(st.sampled_from(["<", "<=", ">", "=="]))
            rank = f"selector_width(select({x}, {x}, {op}))"
            if kind == "rank":
                return rank
            return f"aggregate(select({rank}, indices, ==), ({x}) * {c})"
        case "count":
            frac = f"aggregate(select(indices, indices, <=), indicator({draw(boolean(depth - 1))}))"
            return f"round({frac} * (indices + 1))"
        case _:
            default = draw(st.sampled_from(["", ", 0", ", -1"]))
            return f"aggregate({draw(selector(depth - 1))}, {sub()}{default})"


@st.composite
def boolean(draw, depth: int = 2) -> str:
    a = draw(num(max(depth - 1, 0)))
    kind = draw(st.sampled_from(["cmp_const", "cmp", "not", "and"]))
    if kind == "cmp_const" or depth <= 0:
        op = draw(st.sampled_from(["==", "<", ">"]))
        return f"({a} {op} {draw(st.integers(0, 3))})"
    if kind == "cmp":
        op = draw(st.sampled_from(["==", "<", ">"]))
        return f"({a} {op} {draw(num(depth - 1))})"
    if kind == "not":
        return f"(not {draw(boolean(depth - 1))})"
    return f"({draw(boolean(depth - 1))} and {draw(boolean(depth - 1))})"


@st.composite
def selector(draw, depth: int = 2) -> str:
    kind = draw(st.sampled_from(["select", "select", "and", "or", "not"]))
    if kind == "select" or depth <= 0:
        k = draw(num(max(depth - 1, 0)))
        q = draw(num(max(depth - 1, 0)))
        return f"select({k}, {q}, {draw(st.sampled_from(CMP))})"
    if kind == "not":
        return f"(not {draw(selector(depth - 1))})"
    return f"({draw(selector(depth - 1))} {kind} {draw(selector(depth - 1))})"


@st.composite
def program(draw) -> str:
    kind = draw(st.sampled_from(["num", "num", "bool", "str"]))
    if kind == "num":
        return draw(num())
    if kind == "bool":
        return draw(boolean())
    sel = draw(selector(1))
    return draw(
        st.sampled_from(
            [f'aggregate({sel}, tokens_str, "_")', f'("p" if {draw(boolean(1))} else tokens_str)']
        )
    )


EXPLORE = int(os.environ.get("RASPC_EXPLORE", "0"))


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * max(EXPLORE, 1),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=not EXPLORE,
        database=None if not EXPLORE else settings.default.database,
    )


def _exact_or_refused(text: str, vocab: list, max_len: int) -> None:
    """A well-typed s-op compiles to a model that matches the interpreter on every input up to
    max_len, or is refused with a CompileError; anything else fails."""
    env = rasp.Environment()
    try:
        node = env.expression(text)
    except RaspError:
        assume(False)
    assume(isinstance(node, rasp.ir.SOp))
    try:
        prog = compiler.compile(env, text, vocab=vocab, max_len=max_len)
    except CompileError as err:
        assert "cannot compile" in err.message
        return
    inputs, exhaustive = check.inputs_for(vocab, max_len)
    report = check.verify(prog, prog.node, inputs, exhaustive)
    assert report.ok, f"{text} {vocab} {max_len}: {report.first.describe()}"


@_settings(120)
@given(program())
def test_random_programs_compile_exactly_or_are_refused(text):
    _exact_or_refused(text, VOCAB, MAX_LEN)


@_settings(60)
@given(program(), st.sampled_from([[0], [2], [1, 2]]), st.sampled_from([1, 2]))
def test_tiny_configurations_compile_exactly_or_are_refused(text, vocab, max_len):
    """Length 1 and one-token vocabularies: constant selectors, means of one value."""
    _exact_or_refused(text, vocab, max_len)


def deep_program(rng: random.Random, depth: int) -> str:
    """`depth` statements, each reading one or two earlier s-ops (recent ones more often):
    elementwise maps, comparisons, ternaries, means, selections by rank and widths."""
    lines = ["v0 = tokens_int;"]
    for i in range(1, depth + 1):
        a = f"v{max(0, i - 1 - int(min(rng.expovariate(0.5), i)))}"  # (hypothesis draws inf)
        b = f"v{rng.randrange(i)}"
        c = rng.randrange(1, 4)
        lines.append(
            f"v{i} = "
            + rng.choice(
                [
                    f"({a} + {c}) % 3",
                    f"({a} + {b}) % 4",
                    f"{a} - {b}",
                    f"({a} > {b}) + 0",
                    f"{c} if {a} == {b} else {a} % 3",
                    f"aggregate(select(indices, indices - 1, ==), {a}, 0)",
                    f"aggregate(select(indices, {a} % 4, ==), {b}, 0)",
                    f"round(aggregate(select({a}, {b}, ==), indices, 0))",
                    f"selector_width(select({a}, {b}, <))",
                    f"round(aggregate(select(indices, indices, <=), indicator({a} == {c}))"
                    " * (indices + 1))",
                ]
            )
            + ";"
        )
    return "\n".join(lines) + "\n"


DEEP_EXAMPLES = 24
DEEP_REFUSED = 3  # at most 1 in 8 (0 of 24 refused at commit 2a32dad)


def test_deep_programs_compile_exactly_or_are_refused_rarely():
    """Programs 20-100 statements deep, drawn by hypothesis: never wrong, and the refusal
    rate stays bounded (6 of 16 refused when first written: rounded means of indices whose
    float32 error bound was too wide; 0 of 24 now, so a bound of 1 in 8 catches a regression)."""
    refused: list[str] = []
    drawn: list[int] = []

    @_settings(DEEP_EXAMPLES)
    @given(st.integers(20, 100), st.randoms(use_true_random=False))
    def one(depth: int, rng: random.Random) -> None:
        text = deep_program(rng, depth)
        env = rasp.Environment()
        env.run(text)
        drawn.append(depth)
        try:
            prog = compiler.compile(env, f"v{depth}", vocab=VOCAB, max_len=MAX_LEN)
        except CompileError as err:
            assert "cannot compile" in err.message
            refused.append(err.message)
            return
        inputs, exhaustive = check.inputs_for(VOCAB, MAX_LEN)
        report = check.verify(prog, prog.node, inputs, exhaustive)
        assert report.ok, f"{text}: {report.first.describe()}"

    one()
    print(f"deep programs: {len(refused)} of {len(drawn)} refused", *refused, sep="\n  ")
    assert len(drawn) >= DEEP_EXAMPLES // 2 and max(drawn) - min(drawn) >= 40, drawn
    assert len(refused) * DEEP_EXAMPLES <= DEEP_REFUSED * len(drawn), refused
