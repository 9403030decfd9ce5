"""Program data: tokenizer, deterministic sampling, splits without leakage, held-out lengths."""

import io
from collections import Counter

import pytest
import torch

from lm.data import (
    BOS,
    EOS,
    PAD,
    SEP,
    DataConfig,
    ProgramSpec,
    Tokenizer,
    make_dataset,
    program_sources,
    rasp_program,
)
from rasp.examples import SpecMissing, compile_spec, read_header


def fake_hist(inputs):
    """A stand-in for the interpreter: each token's count in its input."""
    return [[x.count(t) for t in x] for x in inputs]


def _key(example):
    return tuple(example.input)


def test_splits_are_disjoint_deterministic_and_correct():
    config = DataConfig(vocab=["a", "b", "c", "d"], max_len=7, n_examples=3000, seed=3)
    data = make_dataset(fake_hist, config)
    keys = {name: {_key(e) for e in split} for name, split in data.splits.items()}
    assert set(keys) == {"train", "val", "test"}
    assert keys["train"].isdisjoint(keys["val"])
    assert keys["train"].isdisjoint(keys["test"])
    assert keys["val"].isdisjoint(keys["test"])
    assert sum(len(s) for s in data.splits.values()) == 3000
    for split in data.splits.values():
        assert len({_key(e) for e in split}) == len(split)  # no duplicates within a split
        for e in split:
            assert 1 <= len(e.input) <= 7 and e.output == fake_hist([e.input])[0]
    again = make_dataset(fake_hist, config)
    assert again.splits == data.splits
    other = make_dataset(fake_hist, DataConfig(**{**config.__dict__, "seed": 4}))
    assert other.splits["train"] != data.splits["train"]


def test_small_input_space_is_enumerated_once():
    config = DataConfig(vocab=["a", "b"], max_len=3, n_examples=1000)
    data = make_dataset(fake_hist, config)
    inputs = [_key(e) for split in data.splits.values() for e in split]
    assert len(inputs) == len(set(inputs)) == 2 + 4 + 8


def test_held_out_lengths_form_their_own_split():
    config = DataConfig(vocab=[1, 2, 3], max_len=4, n_examples=200, long_range=(6, 8), n_long=50)
    data = make_dataset(fake_hist, config)
    assert len(data.splits["long"]) == 50
    assert all(6 <= len(e.input) <= 8 for e in data.splits["long"])
    assert data.max_seq_len == 8 + 8 + 3
    # Counts above 4 occur only in the long split, and still have tokens.
    top = max(v for e in data.splits["long"] for v in e.output)
    assert top > 4 and data.tokenizer.id(top) >= 4
    with pytest.raises(ValueError, match="above max_len"):
        DataConfig(vocab=[1], max_len=4, long_range=(3, 5))


def test_tokenizer_shares_values_keeps_types_apart_and_round_trips():
    tok = Tokenizer.build(["a", "b", 1], outputs=[1, 1.0, True, "a", None, 2])
    assert tok.id("a") == 4 and tok.id(1) == 6  # the compiler's vocabulary order comes first
    assert len({tok.id(v) for v in [1, 1.0, True, None, 2]}) == 5
    ids = tok.encode(["a", 1], [True, None])
    assert ids[0] == BOS and ids[3] == SEP and ids[-1] == EOS
    assert tok.decode(ids[4:]) == [True, None]
    again = Tokenizer.from_dict(tok.to_dict())
    assert again.values == tok.values and [type(v) for v in again.values] == [
        type(v) for v in tok.values
    ]
    with pytest.raises(KeyError):
        tok.id("zzz")


def test_sequence_batch_masks():
    data = make_dataset(fake_hist, DataConfig(vocab=["a", "b"], max_len=3, n_examples=14))
    batch = data.tensors("train")
    row = int(torch.argmin(batch.lengths))  # a length-1 input: BOS x SEP y EOS
    assert batch.lengths[row] == 5 and (batch.ids[row, 5:] == PAD).all()
    # targets: x SEP y EOS (then padding); outputs are y and EOS
    assert batch.target_mask[row].tolist()[:5] == [True, True, True, True, False]
    assert batch.output_mask[row].tolist()[:5] == [False, False, True, True, False]
    assert batch.n_tokens() == int(batch.lengths.sum())


def test_program_spec_reads_the_header(tmp_path):
    path = tmp_path / "rev.rasp"
    path.write_text(
        "# rev: backwards\n# compile: rev --vocab x,y --max-len 5\n"
        "rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n"
    )
    spec = ProgramSpec.from_file(path)
    assert (spec.expr, spec.vocab, spec.max_len) == ("rev", ["x", "y"], 5)
    assert ProgramSpec.from_file(path, "", []) == spec  # empty is not given: the header's
    (tmp_path / "bare.rasp").write_text("x = tokens;\n")
    with pytest.raises(ValueError, match="no expression given and no '# compile:' header"):
        ProgramSpec.from_file(tmp_path / "bare.rasp")
    with pytest.raises(ValueError, match="no vocabulary given and no '# compile:' header"):
        ProgramSpec.from_file(tmp_path / "bare.rasp", "x")
    with pytest.raises(ValueError, match="no maximum length given and no '# compile:' header"):
        ProgramSpec.from_file(tmp_path / "bare.rasp", "x", ["a"])


@pytest.mark.parametrize(
    "header",
    [
        "# compile: rev --vocab x,y --max-len 5",
        "# compile: other --max-len 7 --vocab 1,2,3 --width 3",
        "# rev: no compile line",
    ],
)
@pytest.mark.parametrize(
    "given",
    [
        {},
        {"max_len": 3},
        {"expr": "other", "vocab": ["q"]},
        {"expr": "rev", "vocab": [1], "max_len": 2},
    ],
)
def test_program_spec_reads_a_header_as_rasp_compile_does(tmp_path, header, given):
    """One rule for header -> (expression, vocabulary, length): lm's is `compile_spec`'s."""
    path = tmp_path / "p.rasp"
    path.write_text(f"{header}\nrev = tokens;\nother = tokens;\n")
    try:
        want = compile_spec(read_header(str(path)), **given)
    except SpecMissing:
        with pytest.raises(ValueError, match="given and no '# compile:' header line"):
            ProgramSpec.from_file(path, **given)
        return
    spec = ProgramSpec.from_file(path, **given)
    assert (spec.expr, spec.vocab, spec.max_len) == (want.expr, want.vocab, want.max_len)


def test_saved_sources_are_written_back_as_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """A checkpoint's program text, rewritten to run it, is UTF-8 as `read_source` reads it,
    not the locale's encoding (ASCII under `LC_ALL=C` without Python's UTF-8 mode)."""
    path = tmp_path / "accent.rasp"
    text = '# accent: each "a" becomes "é"\naccent = "é" if tokens == "a" else tokens;\n'
    path.write_text(text, encoding="utf-8")
    sources = program_sources(path)
    # What `open` falls back to without an encoding: here, as under that locale, ASCII.
    monkeypatch.setattr(io, "text_encoding", lambda encoding, stacklevel=2: encoding or "ascii")
    assert rasp_program(path, "accent", sources)([["a", "b"]]) == [["é", "b"]]


def test_real_interpreter_data(tmp_path):
    path = tmp_path / "rev.rasp"
    path.write_text("rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n")
    data = make_dataset(rasp_program(path, "rev"), DataConfig(vocab=["x", "y"], max_len=4))
    for e in data.splits["train"]:
        assert e.output == e.input[::-1]


@pytest.mark.parametrize("vocab,max_len,n", [("abcd", 7, 3000), ("abc", 9, 5000), ("ab", 4, 30)])
def test_split_lengths_follow_the_same_distribution(vocab, max_len, n):
    """Sampled inputs are found short-first; every split must still hold each length in the
    proportion of the whole (a systematic sample within 1-2 examples per length)."""
    config = DataConfig(vocab=list(vocab), max_len=max_len, n_examples=n, seed=1)
    data = make_dataset(fake_hist, config)
    total = sum(len(s) for s in data.splits.values())
    overall = Counter(len(e.input) for s in data.splits.values() for e in s)
    for name, split in data.splits.items():
        counts = Counter(len(e.input) for e in split)
        for length, count in overall.items():
            expected = len(split) * count / total
            assert abs(counts[length] - expected) <= 2, (name, length, counts[length], expected)
    # The short inputs (all of lengths 1-2 are found) are not concentrated in validation.
    short = sum(1 for e in data.splits["val"] if len(e.input) <= 2) / len(data.splits["val"])
    assert short <= 2 * sum(c for k, c in overall.items() if k <= 2) / total + 0.05
