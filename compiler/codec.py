"""A compiled program's edges: inputs to padded id arrays (`InputCodec`), the output slice of
the logits to Python values (`OutputCodec`); both in bulk, so that a batch costs about what its
forward costs (per-token Python would cost several times more). Token lists are read by one C
loop (`_token_ids.c`, about 3 ns a token) where it is built and the vocabulary is one kind
(one-character strings or plain ints); otherwise by str.join and array lookups (10-20 ns)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.manifest import Output
from compiler.values import vkey
from rasp.errors import RaspError
from rasp.source import normalise_input

try:  # the C loop over token lists (compiler/_token_ids.c); optional, built at install
    from compiler import _token_ids
except ImportError:  # no C compiler at install: the pure-Python path below runs instead
    _token_ids = None  # type: ignore[assignment]


class InputCodec:
    """Token ids of inputs over `vocab` (BOS is id `bos`) of length 1..`max_len`."""

    def __init__(self, vocab: Sequence[Any], bos: int, max_len: int):
        self.vocab = list(vocab)
        self.bos = bos
        self.max_len = max_len
        self._index = {vkey(t): i for i, t in enumerate(self.vocab)}
        self._by_type: dict[type, dict[Any, int]] = {}
        for i, t in enumerate(self.vocab):
            self._by_type.setdefault(type(t), {})[t] = i
        chars = {t: i for t, i in self._by_type.get(str, {}).items() if len(t) == 1}
        self._char_ids: np.ndarray | None = None  # code point -> id (-1: not a token)
        if chars:
            self._char_ids = np.full(max(map(ord, chars)) + 2, -1, dtype=np.int64)
            for t, i in chars.items():
                self._char_ids[ord(t)] = i
        # The same for one-byte (latin-1) characters as uint8, 255 for none: a lookup in a
        # 256-entry byte table costs half the int64 one over a million tokens.
        self._byte_ids: np.ndarray | None = None
        # And for a latin-1 character followed by a NUL, read as one little-endian uint16
        # (`_encode_chars`): 255 unless the high byte is 0 and the low one a token.
        self._pair_ids: np.ndarray | None = None
        if chars and len(self.vocab) < 255 and max(map(ord, chars)) < 256:
            self._byte_ids = np.full(256, 255, dtype=np.uint8)
            for t, i in chars.items():
                self._byte_ids[ord(t)] = i
            self._pair_ids = np.full(1 << 16, 255, dtype=np.uint8)
            self._pair_ids[1:256] = self._byte_ids[1:]
        # For the C loop: ids by code point where every token is a one-character string, by
        # value less the smallest where every one is a plain int (bool is not) in a range
        # that a small table covers.
        self._table: np.ndarray | None = None
        self._chars, self._offset = True, 0
        kinds = set(map(type, self.vocab))
        if kinds == {str} and len(chars) == len(self.vocab):
            self._table = self._char_ids
        elif kinds == {int}:
            low, high = min(self.vocab), max(self.vocab)
            if abs(low) < 1 << 62 and high - low < 1 << 16:
                self._chars, self._offset = False, low
                self._table = np.full(high - low + 1, -1, dtype=np.int64)
                self._table[[t - low for t in self.vocab]] = np.arange(len(self.vocab))

    def encode(self, tokens: Any) -> list[int]:
        """BOS then the token ids; a ValueError names a token outside the vocabulary."""
        seq = self.sequence(tokens)
        ids = [self.bos]
        for t in seq:
            i = self._index.get(vkey(t))
            if i is None:
                raise ValueError(f"token {t!r} is not in the vocabulary {self.vocab}")
            ids.append(i)
        return ids

    def sequence(self, tokens: Any) -> str | list[Any]:
        """The input as the interpreter reads it; a ValueError if it is empty or too long."""
        try:
            seq = normalise_input(tokens)
        except RaspError as err:
            raise ValueError(err.message) from None
        if len(seq) > self.max_len:
            raise ValueError(
                f"input of {len(seq)} tokens is longer than the compiled max_len {self.max_len}"
            )
        return seq

    def encode_batch(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [N, 1 + longest], lengths [N] counting BOS): BOS first, right-padded with BOS.

        Tokens of one type are looked up in one dict by value (C-speed `map`); mixed types
        by their (type, value) identity, so 1, 1.0 and True stay different tokens."""
        seqs = inputs
        if not set(map(type, inputs)) <= {str, list, tuple}:
            seqs = [self.sequence(x) for x in inputs]
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        if len(seqs) and (lengths.min() == 0 or lengths.max() > self.max_len):
            bad = int(np.argmax((lengths == 0) | (lengths > self.max_len)))
            self.sequence(seqs[bad])  # raises, saying why
        width = int(lengths.max()) if len(seqs) else 0
        tokens = np.full((len(seqs), 1 + width), self.bos, dtype=np.int64)
        texts = self._char_ids is not None and set(map(type, seqs)) == {str}
        if not texts and self._filled(seqs, tokens):
            return tokens, lengths + 1
        if texts:
            ids = self._encode_text(seqs)
        else:
            ids = self._encode_tokens(seqs, int(lengths.sum()))
        if len(seqs) and lengths.min() == width:
            tokens[:, 1:] = ids.reshape(len(seqs), width)
        else:
            tokens[:, 1:][np.arange(width)[None, :] < lengths[:, None]] = ids
        return tokens, lengths + 1

    def _filled(self, seqs: Sequence[Any], tokens: np.ndarray) -> bool:
        """Whether the C loop wrote every token's id into `tokens` [N, 1 + width] (False where
        it is not built, or an input is other than a list or tuple of the vocabulary's kind of
        token, or a token is not in it: the Python paths then encode or say which)."""
        if _token_ids is None or self._table is None:
            return False
        seqs = seqs if isinstance(seqs, list | tuple) else list(seqs)
        width = tokens.shape[1] - 1
        return _token_ids.fill(seqs, self._chars, self._table, self._offset, tokens, width)

    def _encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Ids of every character of plain-text inputs: one array lookup over code points."""
        ids = self._ids(_code_points("".join(texts)))
        if ids is None:
            for x in texts:
                self.encode(x)  # raises, naming the token
            raise AssertionError("a character is not a token, yet each input encodes")
        return ids

    def _ids(self, points: np.ndarray) -> np.ndarray | None:
        """Token ids of code points (uint8 where the byte table covers them); None when one
        is not a token."""
        if points.dtype == np.uint8 and self._byte_ids is not None:
            ids = np.take(self._byte_ids, points)  # (2x faster than indexing, measured)
            return None if (ids == 255).any() else ids
        lut = self._char_ids
        assert lut is not None
        if len(lut) <= np.iinfo(points.dtype).max:  # past the table: its last entry, -1
            points = np.minimum(points, len(lut) - 1)
        ids = np.take(lut, points)
        return None if (ids < 0).any() else ids

    def _encode_chars(self, seqs: Sequence[Any], n: int) -> np.ndarray | None:
        """(Where the C loop is not built or does not apply.) Ids of the n tokens of `seqs`
        when every one is a one-character string other than NUL (else None): all joined with
        NULs into one string (C-speed; a dict lookup per token is not) and looked up by code
        point. Proof: the joined length is 2n - 1 with NUL at every odd index and none at an
        even one iff the n tokens hold n - 1 NULs in all (the separators), hence none, and
        each sits between two separators: one character."""
        lut = self._char_ids
        if lut is None or not n:
            return None
        try:
            joined = "\0".join(map("\0".join, seqs))
        except TypeError:
            return None
        if len(joined) != 2 * n - 1:
            return None
        if self._pair_ids is not None:  # (character, NUL) pairs: one lookup checks both
            try:
                pairs = np.frombuffer((joined + "\0").encode("latin-1"), dtype="<u2")
            except UnicodeEncodeError:
                return None
            ids = np.take(self._pair_ids, pairs)
            return None if (ids == 255).any() else ids
        points = _code_points(joined)
        chars = points[0::2]
        if points[1::2].any() or not chars.all():
            return None
        return self._ids(chars)

    def _encode_tokens(self, seqs: Sequence[Any], n: int) -> np.ndarray:
        chars = self._encode_chars(seqs, n)
        if chars is not None:
            return chars
        flat = list(itertools.chain.from_iterable(seqs))
        types = set(map(type, flat))
        table = self._by_type.get(types.pop()) if len(types) == 1 else None
        try:
            if table is not None:
                ids = np.fromiter(map(table.__getitem__, flat), dtype=np.int64, count=len(flat))
            else:
                index = self._index
                ids = np.fromiter((index[vkey(t)] for t in flat), dtype=np.int64, count=len(flat))
        except (KeyError, TypeError):
            for x in seqs:
                self.encode(x)  # raises, naming the token
            raise
        return ids


def _code_points(text: str) -> np.ndarray:
    """The characters' code points: one byte each where they all allow it (latin-1)."""
    try:
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


class OutputCodec:
    """Decodes the output slice of the logits in bulk: argmax over a categorical one-hot;
    a numeric output snapped to the nearest value the program can produce when within 0.45
    of the gap to its neighbours (else the raw number is returned, so a wrong model shows).

    Where the program can produce both 1 and 1.0 (a mean over one key passes the key's int
    through, over several it is a float), the output is `typed`: a second column, 1 where
    the value is not a float, picks which (see `compiler/numtype.py`).

    Numbers come back in a typed array where every value the program can produce is a
    Python int (int64) or every one a float (float64): `tolist` turns those into the same
    Python values, several times faster than from an object array. Anything else (mixed
    types, strings, lists, or a raw number where the model is off every value) is an
    object array of the Python values themselves."""

    def __init__(self, output: Output):
        values = output.values or []
        self.numeric = output.encoding == "numerical"
        self.typed = output.typed
        self.values = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            self.values[i] = v
        if not self.numeric or not values:
            return
        floats = np.array([float(v) for v in values])
        self.sorted, first = np.unique(floats, return_index=True)
        chosen = {}
        for v, f in zip(values, floats.tolist(), strict=True):
            if f not in chosen or isinstance(v, float):  # floats over equal ints
                chosen[f] = v
        nonfloat = {float(v): v for v in values if not isinstance(v, float)}
        self.by_sorted = np.empty(len(self.sorted), dtype=object)
        self.nonfloat = np.empty(len(self.sorted), dtype=object)
        for j, f in enumerate(self.sorted.tolist()):
            self.by_sorted[j] = chosen[f]
            self.nonfloat[j] = nonfloat.get(f, chosen[f])
        kinds = set(map(type, values))
        if not self.typed and kinds == {int} and all(abs(v) < 2**63 for v in values):
            self.by_sorted = self.by_sorted.astype(np.int64)
        elif not self.typed and kinds == {float}:
            self.by_sorted = self.by_sorted.astype(np.float64)
        gaps = np.diff(self.sorted)
        # Consecutive integers (counts, positions, sorted ints) snap by rounding.
        self.consecutive = bool(len(gaps) and (gaps == 1).all() and self.sorted[0] % 1 == 0)
        near = np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf])
        single = 1e-4 * np.maximum(1.0, np.abs(self.sorted))
        self.tol = np.where(np.isfinite(near), 0.45 * near, single)

    def decode(self, logits: np.ndarray) -> np.ndarray:
        """Values [..., T] (an object array of Python values) from logits [..., T, W]."""
        if not self.numeric:
            return self.values[logits.argmax(axis=-1)]
        x = logits[..., 0].astype(np.float64)
        if not len(self.values):  # any number; a typed one is an int where flagged
            out = x.astype(object)
            if self.typed:
                ints = (logits[..., 1] > 0.5) & np.isfinite(x)
                out[ints] = [int(v) for v in np.rint(x[ints])]
            return out
        s = self.sorted
        if self.consecutive:  # rounding; every tolerance is 0.45 (gaps of 1)
            d = x - s[0]
            r = np.rint(d)
            off = ~(np.abs(d - r) <= 0.45)  # NaN: off
            off |= r < 0
            off |= r > len(s) - 1
            # Any index in range where off (fmin/fmax take the number over a NaN).
            best = np.fmax(np.fmin(r, len(s) - 1, out=r), 0, out=r).astype(np.int64)
        else:
            i = (
                np.searchsorted(s, x).clip(1, len(s) - 1)
                if len(s) > 1
                else np.zeros_like(x, dtype=np.int64)
            )
            lo = i - 1 if len(s) > 1 else i
            best = np.where(np.abs(s[i] - x) < np.abs(s[lo] - x), i, lo)
            off = ~(np.abs(s[best] - x) <= self.tol[best])
        out = self.by_sorted[best]
        if self.typed:
            out = np.where(logits[..., 1] > 0.5, self.nonfloat[best], out)
        if off.any():
            out = out.astype(object)
            out[off] = x[off]
        return out

    @staticmethod
    def rows(values: np.ndarray, lengths: np.ndarray) -> list[list[Any]]:
        """Python lists of decoded `values` [N, T], row i cut to lengths[i]: one `tolist`
        for the whole array (per-row calls cost a third more)."""
        full = values.tolist()
        width = values.shape[1] if values.ndim == 2 else 0
        return [
            row if n == width else row[:n] for row, n in zip(full, lengths.tolist(), strict=True)
        ]
