"""Discretising MLPs built from hand-made plan nodes (no IR, no lowering)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from compiler.discretise import MLP_TUPLES, Axis, _prune, discretise, pointwise
from compiler.errors import CompileError
from compiler.linear import ONE, Lin
from compiler.plan import Embedded, Head


def _maker():
    ids = itertools.count()
    return lambda cls, *a, **k: cls(*a, id=next(ids), **k)


def _tokens(values, new):
    return new(
        Embedded,
        "categorical",
        list(values),
        "tokens",
        table=np.eye(len(values)),
        base=np.zeros(len(values)),
        kind="tok",
    )


def _number(values, new):
    return new(Head, "numerical", list(values), "mean", base=np.zeros(1), head=None)


def test_steps_sit_between_the_points_where_the_output_changes():
    new = _maker()
    x = _tokens([0, 1, 2, 3], new)
    p = discretise([x], pointwise(lambda v: v // 2), "half", None, "MLP", 4, new)
    assert p.kind == "mlp" and p.values == [0, 1]
    spec = p.mlp
    assert spec.points.tolist() == [0, 1, 2, 3]
    assert spec.outs.argmax(axis=1).tolist() == [0, 0, 1, 1]
    assert spec.changes().tolist() == [2] and spec.hidden == 3


def test_read_errors_from_codes_match_the_one_hot_table():
    """An MLP's steps and read-out errors from its output codes (cheap) equal those from
    its one-hot table."""
    import dataclasses

    new = _maker()
    p = discretise(
        [_tokens(list(range(9)), new)], pointwise(lambda v: (v * v) % 5), "sq", None, "MLP", 4, new
    )
    plain = dataclasses.replace(p, mlp=dataclasses.replace(p.mlp, codes=None))
    assert p.mlp.codes is not None
    assert p.mlp.changes().tolist() == plain.mlp.changes().tolist()
    m = np.random.default_rng(0).normal(size=(3, p.encdim))
    assert p.read_err(m) == pytest.approx(plain.read_err(m), rel=1e-12)


def test_two_inputs_mix_in_a_radix_with_every_tuple_apart():
    new = _maker()
    a, b = _tokens(["x", "y"], new), _number([0.0, 0.5, 1.0], new)
    p = discretise([a, b], pointwise(lambda s, v: s if v > 0.25 else "-"), "f", None, "MLP", 4, new)
    assert sorted(p.values) == ["-", "x", "y"]
    assert len(np.unique(p.mlp.points)) == 6  # 2 x 3 tuples, distinct z
    assert np.diff(p.mlp.points).min() >= 1.0


def test_a_constant_result_needs_no_mlp():
    new = _maker()
    p = discretise([_tokens([1, 2], new)], pointwise(lambda v: 7), "k", None, "MLP", 4, new)
    assert p.kind == "linear" and p.values == [7]


def test_refusals_name_the_reason():
    new = _maker()
    a, b = _tokens(list(range(200)), new), _tokens(list(range(MLP_TUPLES // 200 + 1)), new)
    with pytest.raises(CompileError, match="more than an MLP may enumerate"):
        discretise([a, b], pointwise(lambda x, y: x), "f", None, "MLP", 4, new)
    with pytest.raises(CompileError, match="too many values here"):
        unknown = new(Head, "numerical", None, "m", head=None)
        discretise([unknown], pointwise(lambda v: v), "f", None, "MLP", 8, new)
    with pytest.raises(CompileError, match="equal numbers of different types"):
        discretise(
            [_number([1, 1.0, 2], new)],
            pointwise(lambda v: type(v).__name__),
            "t",
            None,
            "MLP",
            4,
            new,
        )
    with pytest.raises(CompileError, match="raises an error on every value"):
        discretise([_tokens([0], new)], pointwise(lambda v: 1 / v), "r", None, "MLP", 4, new)
    # one number computed two ways (1 ulp apart) is one point; its square is not one result.
    # Said as such, with a rewrite that compiles, not as "equal numbers of different types"
    with pytest.raises(CompileError, match="one number computed two ways") as err:
        near = [-7.916666666666667, -7.916666666666666]
        discretise([_number(near, new)], pointwise(lambda v: v * v), "s", None, "MLP", 4, new)
    assert "different types" not in str(err.value) and "round(x * 1000)" in str(err.value)


def test_floats_a_few_ulps_apart_are_one_point():
    new = _maker()
    third = 1 + 4 / 3
    x = _number([2 + 1 / 3, third, 3.0], new)
    assert 2 + 1 / 3 != third
    p = discretise([x], pointwise(lambda v: v > 2.5), "f", None, "MLP", 4, new)
    assert p.values == [False, True] and len(p.mlp.points) == 2


def test_one_input_keeps_only_the_points_next_to_a_change():
    new = _maker()
    many = [i / 8 for i in range(MLP_TUPLES + 1000)]  # more than two inputs may have
    p = discretise([_number(many, new)], pointwise(lambda v: v >= 300.0), "f", None, "MLP", 4, new)
    assert p.mlp.points.tolist() == [0.0, 2399.0, 2400.0, len(many) - 1.0]
    assert p.mlp.hidden == 3


def test_a_relative_error_spares_the_points_near_the_base():
    new = _maker()
    means = [0, 0.125, 0.25, 0.5, 1.0]  # a mean of 0/1 values, default 0
    loose = new(Head, "numerical", means, "m", base=np.zeros(1), head=None, err=0.05, rel=0.05)
    p = discretise([loose], pointwise(lambda v: v > 0), "any", None, "MLP", 8, new)
    assert p.values == [False, True]
    absolute = new(Head, "numerical", means, "m", base=np.zeros(1), head=None, err=0.05)
    with pytest.raises(CompileError, match="too close together"):
        discretise([absolute], pointwise(lambda v: v > 0), "any", None, "MLP", 8, new)


def test_pruning_keeps_the_ends_and_the_points_beside_a_change_rescaled_to_gaps_of_one():
    """Points where the program raises (code -1) and points inside a run of one output go;
    the rest are rescaled so that the closest two are 1 apart, the read-out and its error
    with them (named results: `Pruned` of an `Axis`)."""
    new = _maker()
    x = _number([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], new)
    u = np.array([0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0])
    lin = Lin.of(x, 1)
    axis = Axis(u, lin, 0.3, [[v] for v in x.values])
    codes = np.array([0, -1, 0, 1, 1, 1, 1])
    cut = _prune(axis, codes)
    assert cut.keep.tolist() == [0, 2, 3, 6]
    assert cut.codes.tolist() == [0, 0, 1, 1]
    assert cut.axis.u.tolist() == [0.0, 2.0, 3.0, 6.0]  # (u - 0) / 3
    assert cut.axis.err == pytest.approx(0.1)
    assert cut.axis.groups == [[0.0], [2.0], [3.0], [6.0]]
    m, c = cut.axis.lin.terms[x][0, 0], cut.axis.lin.terms[ONE][0, 0]
    assert (m * u[cut.keep] + c).tolist() == cut.axis.u.tolist()
    whole = _prune(axis, np.array([0, 1, 0, 1, 0, 1, 0]))  # every point beside a change
    assert whole.axis is axis and whole.keep.tolist() == list(range(7))
