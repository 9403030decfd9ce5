"""The unembedding: the output's read-out from the residual stream and its decoding rule.

A categorical output is read as its one-hot and decoded by argmax; a number (or a one-hot of
numbers that differ as floats, read as one number) by value, snapped to the values the
program can produce (`codec.OutputCodec`); a number whose type can differ (1 or 1.0) also
reads its type flag (`numtype`). The read-out's float error must leave every decoded value
right, or the compile is refused.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import PRECISION, CompileError
from compiler.linear import Lin
from compiler.manifest import Encoding, Output, jsonable
from compiler.numtype import output_flag
from compiler.plan import Head, PNode, err_of, read
from compiler.precision import SAME, Precision
from compiler.values import is_numeric_like


def _check_error(root: PNode, lin: Lin, output: Output, prec: Precision) -> None:
    """The output must decode to the right value despite float32 error: argmax needs the
    one-hot within 0.3; numbers need the error well below half the gap to the next value,
    or below half the tolerance numbers are compared with (`SAME`): snapping then moves a
    value by at most twice the error, so values closer than that (0.5 and 0.49999999999999994
    from two orders of float division) decode as either, both right. Never across number
    types: the nearest int and float must stay apart."""
    err = err_of(lin)
    if output.encoding == "categorical":
        limit = 0.3
    else:
        values = [v for v in output.values or [] if is_numeric_like(v)]
        vals = np.unique([float(v) for v in values])
        if len(vals) > 1:
            limit = 0.45 * float(np.diff(vals).min())  # snapping to the nearest value
            limit = max(limit, min(SAME / 2, 0.45 * _type_gap(values)))
        else:  # unknown values: verify compares numbers to SAME of their size
            scale = root.head.vmax if isinstance(root, Head) else 1.0
            limit = SAME * max(1.0, scale)
    if err > limit:
        raise CompileError(
            f"its {prec.name} error (up to {err:.2g}) could change the decoded "
            f"output (values {limit / 0.45:.2g} apart)",
            root.ir,
            precision=True,
            hint=PRECISION,
        )


def _type_gap(values: list) -> float:
    """The least distance between a float and a number that is not one (inf if none): the
    closest such pair is next to each other in sorted order."""
    ordered = sorted(values, key=float)
    return min(
        (
            float(b) - float(a)
            for a, b in zip(ordered, ordered[1:], strict=False)
            if isinstance(a, float) != isinstance(b, float) and float(a) != float(b)
        ),
        default=float("inf"),
    )


def readout(root: PNode, prec: Precision) -> tuple[Lin, Output]:
    """The unembedding's read-out of `root` and how to decode it; a CompileError when the
    read-out's error bound could change a decoded value."""
    lin, output = _readout(root)
    _check_error(root, lin, output, prec)
    return lin, output


def _readout(root: PNode) -> tuple[Lin, Output]:
    """Categorical outputs by argmax over their one-hot; numbers (and one-hots of numbers
    that differ as floats) by value."""
    lin = read(root)
    vals = root.values

    def output(encoding: Encoding, typed: bool = False) -> Output:
        return Output(encoding, jsonable(vals), label=root.label, where=root.where(), typed=typed)

    if root.enc == "numerical":
        if vals is not None and not all(is_numeric_like(v) for v in vals):
            raise CompileError(
                "a numeric output with non-numeric values",
                root.ir,
                hint="compile a categorical value: drop `numerical`",
            )
        flag = output_flag(root)
        if flag is not None:
            return lin.stack(flag), output("numerical", typed=True)
        return lin, output("numerical")
    vals = root.domain
    numeric = all(is_numeric_like(v) for v in vals) and len({float(v) for v in vals}) == len(vals)
    if numeric and len(vals) > 1:
        return lin.left(np.array([[float(v) for v in vals]])), output("numerical")
    return lin, output("categorical")
