"""compiler/codec.py: inputs to ids and logits to values in bulk, agreeing with one-at-a-time
encoding and decoding, types kept apart; a position-free model decoded per token."""

from __future__ import annotations

import os
import random
import re

import numpy as np
import pytest

import compiler
from compiler.codec import InputCodec, OutputCodec
from compiler.manifest import Output
from compiler.program import same_output, same_value
from compiler.testing import ROOT, env_with
from rasp import interpreter
from runtime import run_padded

pytestmark = pytest.mark.usefixtures("one_thread")


def test_codec_snaps_in_bulk():
    codec = OutputCodec(Output("numerical", [0, 0.5, 1.0, 1, 3]))
    logits = np.array([[[0.1], [0.4], [0.98], [1.8], [2.9], [-9.0]]], dtype=np.float32)
    got = codec.decode(logits)[0].tolist()
    assert got[:3] == [0, 0.5, 1.0] and isinstance(got[2], float)  # floats over equal ints
    assert got[3] == pytest.approx(1.8) and isinstance(got[3], float)  # off every value
    assert got[4:] == [3, pytest.approx(-9.0)]
    counts = OutputCodec(Output("numerical", [3, 1, 2, 0]))
    assert counts.consecutive and not codec.consecutive
    x = np.array([[[-0.6], [0.2], [1.5], [2.6], [3.4], [9.0], [np.nan], [-5.0]]])
    got = counts.decode(x)[0].tolist()
    assert got[:5] == [-0.6, 0, 1.5, 3, 3] and [type(v) for v in got[1:5:3]] == [int, int]
    assert got[5] == 9.0 and np.isnan(got[6]) and got[7] == -5.0
    one = OutputCodec(Output("numerical", [2]))
    assert one.decode(np.array([[[2.00001], [2.1]]]))[0].tolist() == [2, pytest.approx(2.1)]
    free = OutputCodec(Output("numerical", None))
    assert free.decode(np.array([[[1.25]]]))[0].tolist() == [1.25]
    cat = OutputCodec(Output("categorical", ["x", [1, 2], 3]))
    assert cat.decode(np.array([[[0, 5, 1], [9, 0, 0]]]))[0].tolist() == [[1, 2], "x"]


def test_same_value_is_one_rule():
    assert same_value(1, 1.0) and same_value(0.3333333, 1 / 3) and same_value(True, 1)
    assert not same_value(1, 1.01) and not same_value("1", 1) and not same_value(None, 0)
    assert same_value(None, None) and same_value("a", "a")
    assert same_output([1, "a"], [1.0, "a"]) and not same_output([1], [1, 2])


def test_encode_batch_keeps_types_apart():
    prog = compiler.compile(env_with(), "tokens", vocab=[1, 2.5, "a"], max_len=4)
    tokens, lengths = prog.encode_batch([[1, 1], ["a"], [2.5, "a", 1]])
    bos = prog.manifest.bos
    assert tokens.tolist() == [[bos, 0, 0, bos], [bos, 2, bos, bos], [bos, 1, 2, 0]]
    assert lengths.tolist() == [3, 2, 4]
    for bad in (1.0, True, "b"):  # equal to a token, or of a type the vocabulary has
        with pytest.raises(ValueError, match=f"token {bad!r} is not in the vocabulary"):
            prog.run_batch([[1], [bad]])
    ints = compiler.compile(env_with(), "tokens", vocab=[1, 2], max_len=4)
    with pytest.raises(ValueError, match="token True"):
        ints.run_batch([[True, True]])
    with pytest.raises(ValueError, match="longer"):
        ints.run_batch([[1, 2, 1, 2, 1]])
    with pytest.raises(ValueError, match="non-empty"):
        ints.run_batch([[]])


def test_text_inputs_encode_through_one_lookup():
    prog = compiler.compile(env_with(), "tokens", vocab=["a", "b", "é"], max_len=4)
    tokens, lengths = prog.encode_batch(["ab", "é", "bbaa"])
    assert tokens[:, 1:].tolist() == [[0, 1, 3, 3], [2, 3, 3, 3], [1, 1, 0, 0]]
    assert prog.run_batch(["ab", ["é", "a"]]) == [["a", "b"], ["é", "a"]]
    for bad in ("c", "\U0001f600", "\x00"):
        with pytest.raises(ValueError, match=re.escape(f"token {bad!r} is not in the")):
            prog.run_batch(["ab", "a" + bad])
    wide = InputCodec(["a", "\u4e2d"], 2, 4)  # its table is longer than a byte's range
    assert wide.encode_batch(["a", "\u4e2da"])[0][:, 1:].tolist() == [[0, 2], [1, 0]]
    assert wide.encode_batch(["a", "aa"])[0][:, 1:].tolist() == [[0, 2], [0, 0]]  # latin-1


def test_lists_of_characters_encode_as_text():
    """Lists of one-character tokens take the joined-string path; anything else (a longer or
    empty token, NUL, a non-string) the per-token one, with the same ids or the same error."""
    codec = InputCodec(["a", "b", "ab", "", 1], 5, 4)
    slow = InputCodec(["a", "b", "ab", "", 1], 5, 4)
    slow._encode_chars = lambda seqs, n: None  # the reference: per-token lookups only
    cases = [
        [["a", "b"], ["b"]],
        [["ab", "a"], ["a", "b"]],
        [["", "ab"], ["a", "b"]],
        [["a", ""], ["b"]],
        [["a", 1], ["b", "a"]],
        ["ab", ["b", "a", "a"]],
    ]
    for inputs in cases:
        got, want = codec.encode_batch(inputs), slow.encode_batch(inputs)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert codec._encode_chars([["a", "b"], "a"], 3).tolist() == [0, 1, 0]
    latin = InputCodec(["a", "\u00e9", "\u00ff"], 3, 4)  # (character, NUL) pairs as uint16
    assert latin._encode_chars([["\u00ff", "a"], ["\u00e9"]], 3).tolist() == [2, 0, 1]
    for flat in (["a", "\u0101"], ["\u00e9", "\x00"], ["\u0101\u00e9"]):
        assert latin._encode_chars([flat], len(flat)) is None, flat
    wide = InputCodec(["a", "\u00e9", "\u4e2d"], 3, 4)
    assert wide._encode_chars([["\u4e2d", "a"], ["\u00e9"]], 3).tolist() == [2, 0, 1]
    for flat in (["a", "\x00"], ["ab", ""], ["", "ab"], ["a", 1], ["c"], ["a\x00b", "", ""]):
        assert codec._encode_chars([flat], len(flat)) is None, flat
    for bad in ("c", "\x00", 2.0):
        with pytest.raises(ValueError, match=re.escape(f"token {bad!r} is not in the")):
            codec.encode_batch([["a"], ["b", bad]])


def test_numbers_decode_into_typed_arrays_where_the_values_allow():
    """All ints: int64; all floats: float64; mixed, typed or off every value: objects. The
    Python values `tolist` gives back are the same either way."""
    ints = OutputCodec(Output("numerical", [3, 1, 2, 0]))
    got = ints.decode(np.array([[[0.1], [2.9]]], dtype=np.float32))
    assert got.dtype == np.int64 and got.tolist() == [[0, 3]]
    assert type(got.tolist()[0][0]) is int
    off = ints.decode(np.array([[[0.1], [1.5]]], dtype=np.float32))
    assert off.dtype == object and off.tolist() == [[0, 1.5]]
    floats = OutputCodec(Output("numerical", [0.5, 0.25]))
    got = floats.decode(np.array([[[0.26], [0.49]]]))
    assert got.dtype == np.float64 and got.tolist() == [[0.25, 0.5]]
    assert OutputCodec(Output("numerical", [1, 0.5])).decode(np.zeros((1, 1, 1))).dtype == object
    assert OutputCodec(Output("numerical", [True, 2])).decode(np.zeros((1, 1, 1))).dtype == object
    assert OutputCodec(Output("numerical", [2**70, 1])).decode(np.ones((1, 1, 1))).dtype == object


def test_position_free_programs_decode_per_token():
    """hist reads no position: run_arrays decodes one entry per vocabulary token and looks
    positions up by token; the values equal the position-by-position decode's."""
    prog = compiler.compile(
        os.path.join(ROOT, "examples", "hist.rasp"), "hist", ["a", "b", "c"], 12
    )
    fast = prog.fast_forward()
    assert fast.position_free
    rng = random.Random(3)
    inputs = ["".join(rng.choice("abc") for _ in range(rng.randint(1, 12))) for _ in range(300)]
    values, lengths = prog.run_arrays(inputs)
    assert values.dtype == np.int64
    tokens, with_bos = prog.encode_batch(inputs)
    plain = prog.codec.decode(run_padded(fast, tokens, with_bos, columns=slice(0, 1))[:, 1:])
    for i, n in enumerate(lengths.tolist()):
        assert values[i, :n].tolist() == plain[i, :n].tolist()
    assert prog.run_batch(inputs) == interpreter.evaluate_batch(prog.node, inputs)
    strings = compiler.compile(env_with(), "tokens", vocab=["a", "b"], max_len=6)
    assert strings.fast_forward().position_free
    values, lengths = strings.run_arrays(["abba", "bab", "aaaaab"])  # object values
    assert values.dtype == object and strings.codec.rows(values, lengths) == [
        list("abba"),
        list("bab"),
        list("aaaaab"),
    ]


def test_rows_cut_each_row_to_its_length():
    values = np.array([[1, 2, 3], [4, 5, 6]], dtype=object)
    assert OutputCodec.rows(values, np.array([3, 1])) == [[1, 2, 3], [4]]
    assert OutputCodec.rows(values[:, :0], np.array([0, 0])) == [[], []]
