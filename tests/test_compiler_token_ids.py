"""compiler/_token_ids.c, the C loop from token lists to ids: it writes exactly the cells it
should, declines whatever is outside its path, and the codec gives the same ids or the same
error with it as without it (the pure-Python path every install has)."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import codec
from compiler.codec import InputCodec

token_ids = codec._token_ids
needs_c = pytest.mark.skipif(token_ids is None, reason="compiler._token_ids is not built")


def test_built_where_a_compiler_is():
    """The install step builds the loop wherever Python's C compiler and headers are (it is
    optional only so that an install without them still works)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) on this machine")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no Python headers (Python.h) on this machine")
    assert token_ids is not None, "pip install -e . did not build compiler/_token_ids.c"


@needs_c
def test_fill_writes_each_row_after_bos_and_nothing_else():
    table = np.full(100, -1, dtype=np.int64)
    table[[ord("a"), ord("b")]] = [0, 1]
    out = np.full((3, 4), 7, dtype=np.int64)
    assert token_ids.fill([["a", "b"], ("b",), []], True, table, 0, out, 3)
    assert out.tolist() == [[7, 0, 1, 7], [7, 1, 7, 7], [7, 7, 7, 7]]
    ints = np.array([2, -1, 0], dtype=np.int64)  # values 5, 6, 7 less the offset 5
    out = np.full((2, 3), 9, dtype=np.int64)
    assert token_ids.fill([[7, 5], [5]], False, ints, 5, out, 2)
    assert out.tolist() == [[9, 0, 2], [9, 2, 9]]


@needs_c
@pytest.mark.parametrize(
    "chars, seqs",
    [
        (True, [["a", "c"]]),  # not in the table
        (True, [["a", "ab"]]),  # longer
        (True, [["", "a"]]),  # empty
        (True, [["a", 1]]),  # another type
        (True, [["a"], "ab"]),  # a row that is a string (the text path's)
        (True, [["a", "b", "a", "b"]]),  # wider than out
        (True, [["a"], ["b"], ["a"]]),  # more rows than out
        (True, [[type("S", (str,), {})("a")]]),  # a str subclass
        (True, [["\U0001f600"]]),  # a code point past the table
        (False, [[5, True]]),  # bool is not a plain int
        (False, [[5, 6.0]]),
        (False, [[5, 4]]),  # below the offset
        (False, [[5, 8]]),  # past the table
        (False, [[5, 6]]),  # -1 in the table
        (False, [[5, 2**70]]),  # past int64
        (False, [[5, -(2**70)]]),
    ],
)
def test_fill_declines_what_is_outside_its_path(chars, seqs):
    table = np.full(100, -1, dtype=np.int64)
    table[[ord("a"), ord("b")]] = [0, 1]
    if not chars:
        table = np.array([2, -1, 0], dtype=np.int64)
    out = np.zeros((2, 4), dtype=np.int64)
    assert token_ids.fill(seqs, chars, table, 5 if not chars else 0, out, 3) is False


@needs_c
def test_fill_refuses_buffers_of_the_wrong_size():
    with pytest.raises(ValueError, match="int64"):
        token_ids.fill([], True, np.zeros(3, dtype=np.int32)[:1], 0, np.zeros(2), 1)
    with pytest.raises(ValueError, match="width"):
        token_ids.fill([], True, np.zeros(3, dtype=np.int64), 0, np.zeros(2), -1)
    with pytest.raises(TypeError):
        token_ids.fill([], True, np.zeros(3, dtype=np.int64), 0, b"read-only", 1)


def _encoded(c: InputCodec, inputs: list) -> tuple[list, list] | str:
    try:
        tokens, lengths = c.encode_batch(inputs)
    except ValueError as err:
        return str(err)
    return tokens.tolist(), lengths.tolist()


CHARS = ["a", "b", "c", "\x00", "\u00e9", "\u4e2d"]
TOKENS = st.one_of(
    st.sampled_from(CHARS + ["ab", "", "z", "\U0001f600"]),
    st.sampled_from([0, 1, 2, 3, -1, 7, 2**64, True, False, 1.0, 2.5]),
)
ROWS = st.lists(TOKENS, min_size=0, max_size=5)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    vocab=st.one_of(
        st.lists(st.sampled_from(CHARS), min_size=1, max_size=6, unique=True),
        st.lists(st.sampled_from([0, 1, 2, 3, -1, 7]), min_size=1, max_size=6, unique=True),
    ),
    inputs=st.lists(st.one_of(ROWS, ROWS.map(tuple)), min_size=1, max_size=4),
)
def test_codec_agrees_with_and_without_the_c_loop(vocab, inputs):
    fast = InputCodec(vocab, len(vocab), 4)
    got = _encoded(fast, inputs)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(codec, "_token_ids", None)
        want = _encoded(InputCodec(vocab, len(vocab), 4), inputs)
    assert got == want
