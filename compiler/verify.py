"""Checking a compiled model against the interpreter, input by input.

Every input up to the maximum length when there are at most `EXHAUSTIVE` of them, else at
least `samples` distinct random inputs with long lengths over-represented (all inputs of the
short lengths are included anyway). On a mismatch, each stored value in the final residual
stream is compared with what the interpreter's value of its IR node implies, and the first
(in layer order) that differs is named with its source location.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.manifest import Value
from compiler.program import CompiledProgram, agrees
from compiler.values import vkey
from rasp import interpreter, ir
from rasp.errors import RaspError
from rasp.source import count_inputs, draw_inputs, every_input

EXHAUSTIVE = 100_000
SAMPLES = 10_000


def inputs_for(
    vocab: Sequence[Any],
    max_len: int,
    samples: int = SAMPLES,
    seed: int = 0,
    limit: int = EXHAUSTIVE,
) -> tuple[list[list[Any]], bool]:
    """(inputs, exhaustive). A sample weights length n by n^2 and makes every fourth draw the
    longest: long inputs are where a compiled model's precision runs out (a learner's data,
    `lm.data`, are uniform instead)."""
    counts = [count_inputs(vocab, range(n, n + 1)) for n in range(1, max_len + 1)]
    if sum(counts) <= limit:
        return every_input(vocab, range(1, max_len + 1)), True
    short = 0
    while short < max_len and sum(counts[: short + 1]) <= samples // 4:
        short += 1
    out = every_input(vocab, range(1, short + 1))
    rng = random.Random(seed)
    lengths = list(range(short + 1, max_len + 1))
    weights = [n * n for n in lengths]

    def length(draw: int) -> int:
        return max_len if draw % 4 == 0 else rng.choices(lengths, weights)[0]

    out += draw_inputs(vocab, max(samples - len(out), 0), rng, length, patience=20)
    return out, False


@dataclass
class Mismatch:
    input: list[Any]
    expected: list[Any]
    actual: list[Any]
    node: str | None = None
    where: str | None = None
    node_expected: Any = None
    node_actual: Any = None

    def describe(self) -> str:
        text = (
            f"input {self.input!r}: expected {self.expected!r}, the compiled model gives "
            f"{self.actual!r}"
        )
        if self.node:
            text += (
                f"\n  first differing value: `{self.node}` at {self.where}: expected "
                f"{self.node_expected!r}, the residual stream holds {self.node_actual!r}"
            )
        return text


@dataclass
class Report:
    checked: int
    exhaustive: bool
    skipped: int  # inputs on which the program itself raises an error
    mismatches: int
    first: Mismatch | None = None
    lengths: list[int] = field(default_factory=list)
    interpreter_s: float = 0.0  # wall seconds of each side over all the inputs
    model_s: float = 0.0
    interpreter_cpu_s: float = 0.0  # and process CPU seconds (steadier on a shared machine)
    model_cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def throughput(self) -> str:
        """Both sides' inputs per second (wall) and per CPU-second in this run, in one line
        that fits 80 columns."""
        n = self.checked + self.skipped

        def rate(seconds: float) -> str:
            return f"{n / seconds:,.0f}" if seconds > 0 else "-"

        return (
            f"inputs/s (per CPU-s): model {rate(self.model_s)} "
            f"({rate(self.model_cpu_s)}); interpreter {rate(self.interpreter_s)} "
            f"({rate(self.interpreter_cpu_s)})"
        )


def expected_outputs(node: ir.SOp, inputs: list[list[Any]]) -> list[list[Any] | None]:
    """The interpreter's outputs (None where the program raises on that input)."""
    out: list[list[Any] | None] = [None] * len(inputs)
    by_len: dict[int, list[int]] = {}
    for i, x in enumerate(inputs):
        by_len.setdefault(len(x), []).append(i)
    for members in by_len.values():
        for start in range(0, len(members), 4096):
            part = members[start : start + 4096]
            rows: list[list[Any] | None]
            try:
                rows = list(interpreter.evaluate_batch(node, [inputs[i] for i in part]))
            except RaspError:
                rows = []
                for i in part:
                    try:
                        rows.append(interpreter.evaluate_batch(node, [inputs[i]])[0])
                    except RaspError:
                        rows.append(None)
            for i, r in zip(part, rows, strict=True):
                out[i] = r
    return out


def verify(
    prog: CompiledProgram, node: ir.SOp, inputs: list[list[Any]], exhaustive: bool
) -> Report:
    t0, c0 = time.perf_counter(), time.process_time()
    expected = expected_outputs(node, inputs)
    t1, c1 = time.perf_counter(), time.process_time()
    actual = prog.run_batch(inputs)
    t2, c2 = time.perf_counter(), time.process_time()
    skipped = sum(e is None for e in expected)
    bad = [
        (i, e)
        for i, (e, a) in enumerate(zip(expected, actual, strict=True))
        if e is not None and not agrees(e, a)
    ]
    report = Report(
        len(inputs) - skipped,
        exhaustive,
        skipped,
        len(bad),
        lengths=sorted({len(x) for x in inputs}),
        interpreter_s=t1 - t0,
        model_s=t2 - t1,
        interpreter_cpu_s=c1 - c0,
        model_cpu_s=c2 - c1,
    )
    if bad:
        i, e = bad[0]
        report.first = diagnose(prog, node, inputs[i], e, actual[i])
    return report


def diagnose(
    prog: CompiledProgram, root: ir.SOp, x: list[Any], expected: list[Any], actual: list[Any]
) -> Mismatch:
    """Name the first stored value whose residual dimensions disagree with the interpreter."""
    mm = Mismatch(list(x), expected, actual)
    resid = prog.forward([x], output="residual")[0][1:].double().numpy()  # [n, d_model]
    memo = interpreter.evaluate_nodes([root], [x])
    nodes = list(ir.walk(root))  # a layout entry's `node` indexes this walk (`refs`)
    for entry in prog.manifest.layout:
        if entry.node is None or not 0 <= entry.node < len(nodes) or entry.width == 0:
            continue
        col = memo.get(nodes[entry.node].id)
        if not isinstance(col, interpreter.Column):
            continue
        want_vals = col.rows()[0]
        proj = np.array(entry.proj).reshape(-1, len(entry.base))
        start, end = entry.dims
        got = resid[:, start:end]
        base = np.array(entry.base)
        want = np.zeros_like(got)
        unknown = False
        for pos, v in enumerate(want_vals):
            if entry.encoding == "categorical":
                index = {vkey(_tuple(u)): j for j, u in enumerate(entry.values or [])}
                j = index.get(vkey(v))
                if j is None:
                    unknown = True
                    break
                enc = np.zeros(len(base))
                enc[j] = 1.0
            else:
                enc = np.array([float(v)])
            want[pos] = proj @ (enc - base)
        tol = 1e-3 * max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        if unknown or np.abs(got - want).max() > tol:
            mm.node, mm.where = entry.label, entry.where
            mm.node_expected = want_vals
            mm.node_actual = _decode(entry, got, proj, base)
            return mm
    return mm


def _tuple(u):
    return tuple(u) if isinstance(u, list) else u


def _decode(entry: Value, got: np.ndarray, proj: np.ndarray, base: np.ndarray) -> list[Any]:
    """Best-effort reading of a stored value from its residual dimensions."""
    enc = got @ np.linalg.pinv(proj).T + base
    if entry.encoding == "categorical" and entry.values is not None:
        return [_tuple(entry.values[int(j)]) for j in enc.argmax(axis=1)]
    return [round(float(v), 6) for v in enc[:, 0]]
