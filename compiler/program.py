"""The compiler's API: `compile` a RASP expression to a `CompiledProgram`, run it, save it
(safetensors: weights plus a JSON manifest, so loading a file can never run code), `load` it.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

import runtime
from rasp import ir
from rasp.env import Environment, normalise_input, read_source
from rasp.errors import RaspError

from . import values as values_mod
from .assemble import Builder
from .budget import DEFAULT_LIMIT, Budget, Progress
from .errors import CompileError
from .lower import Lowerer
from .normalise import Width, normalise
from .values import is_numeric_like, vkey

FORMAT = "raspc-compiled"


def _environment(source: Environment | str | os.PathLike) -> tuple[Environment, str | None]:
    if isinstance(source, Environment):
        return source, None
    path = os.fspath(source)
    env = Environment()
    env.run(read_source(path), path)
    return env, path


def compile(source: Environment | str | os.PathLike, name: str, vocab: Sequence[Any],
            max_seq_len: int, causal: bool = False, encodings: dict[str, str] | None = None,
            time_limit: float | None = DEFAULT_LIMIT, progress: Progress | None = None
            ) -> CompiledProgram:
    """Compile the s-op `name` (a name or any expression) for inputs over `vocab` of length
    1..max_seq_len. `encodings` overrides an aggregate's encoding by variable name
    ('categorical' or 'numerical'). Raises CompileError (or a RaspError from the program),
    also once `time_limit` seconds have passed (None: no limit); `progress(stage, done,
    total, seconds)` is called as nodes are done."""
    budget = Budget(time_limit, progress)
    start = time.perf_counter()
    env, path = _environment(source)
    vocab = list(dict.fromkeys(vocab))
    if not vocab:
        raise CompileError("the vocabulary is empty")
    if not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise CompileError(f"max_seq_len must be a positive integer, not {max_seq_len!r}")
    node = env.expression(name)
    if not isinstance(node, ir.SOp):
        what = "a selector" if isinstance(node, ir.Selector) else f"not an s-op ({node!r})"
        raise CompileError(f"`{name}` is {what}: only s-ops compile")
    normal = normalise(node)
    analysis = values_mod.analyse([normal], vocab, max_seq_len, budget)
    lowerer = Lowerer(analysis, encodings, budget=budget)
    if causal:
        _check_causal(normal)
    masked = lowerer.decide_causal(normal) or causal
    root = lowerer.lower(normal)
    builder = Builder(root, vocab, max_seq_len, masked)
    model, plan = builder.build()
    layout = builder.layout()
    stats = _stats(model, plan)
    manifest = {
        "format": FORMAT, "expr": name, "source": path, "vocab": list(vocab),
        "bos": len(vocab), "max_seq_len": max_seq_len, "causal": masked,
        "output": {**builder.codec, "node": root.label, "where": root.where()},
        "layout": layout, "plan": plan, "stats": stats,
        "compile_seconds": round(time.perf_counter() - start, 4),
    }
    prog = CompiledProgram(model, manifest)
    prog.env, prog.node = env, node
    return prog


def _check_causal(node: ir.SOp) -> None:
    """A causal model is exact only if no query ever needs a later key."""
    for n in values_mod.walk([node]):
        if isinstance(n, ir.Aggregate | Width):
            if not _causal_selector(n.selector):
                raise CompileError("a causal model cannot compute this: its selector may "
                                   "select later positions", n)


def _causal_selector(sel: ir.Selector) -> bool:
    if isinstance(sel, ir.Select):
        return (isinstance(sel.keys, ir.Indices) and isinstance(sel.queries, ir.Indices)
                and sel.op in ("<", "<=", "=="))
    if sel.op == "and":
        return any(_causal_selector(s) for s in sel.inputs)
    if sel.op == "or":
        return all(_causal_selector(s) for s in sel.inputs)
    return False


def _stats(model: runtime.Transformer, plan: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "layers": len(plan),
        "heads": sum(p["heads"] for p in plan),
        "d_model": model.config.d_model,
        "mlp_hidden": sum(p["mlp_hidden"] for p in plan),
        "params": model.num_params(),
    }


def same_value(expected: Any, actual: Any) -> bool:
    """The one rule for 'the model gave the interpreter's value': numbers (int, float, bool)
    equal to 1e-5 of their size, everything else equal by type and value."""
    if is_numeric_like(expected) and is_numeric_like(actual):
        e, a = float(expected), float(actual)
        return abs(e - a) <= 1e-5 * max(1.0, abs(e))
    return vkey(expected) == vkey(actual)


def same_output(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """`same_value` at every position, and the same length."""
    return len(expected) == len(actual) and all(map(same_value, expected, actual))


class OutputCodec:
    """Decodes the output slice of the logits in bulk: argmax over a categorical one-hot;
    a numeric output snapped to the nearest value the program can produce when within 0.45
    of the gap to its neighbours (else the raw number is returned, so a wrong model shows).

    Where the program can produce both 1 and 1.0, it decodes 1.0: such sets come from means,
    and a mean over two or more keys is a float. A mean whose selection holds exactly one key
    passes that key's int through in the interpreter; the model has no dimension that tells
    these apart, so there the type (never the value) differs."""

    def __init__(self, output: dict[str, Any]):
        values = output["values"] or []
        self.numeric = output["encoding"] == "numerical"
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
        self.by_sorted = np.empty(len(self.sorted), dtype=object)
        for j, f in enumerate(self.sorted.tolist()):
            self.by_sorted[j] = chosen[f]
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
        if not len(self.values):
            return x.astype(object)
        s = self.sorted
        if self.consecutive:
            r = np.nan_to_num(np.rint(x - s[0]), nan=0.0)
            best = r.clip(0, len(s) - 1).astype(np.int64)
        else:
            i = np.searchsorted(s, x).clip(1, len(s) - 1) if len(s) > 1 else np.zeros_like(
                x, dtype=np.int64)
            lo = i - 1 if len(s) > 1 else i
            best = np.where(np.abs(s[i] - x) < np.abs(s[lo] - x), i, lo)
        out = self.by_sorted[best]
        off = ~(np.abs(s[best] - x) <= self.tol[best])
        if off.any():
            out[off] = x[off]
        return out


class CompiledProgram:
    """A compiled RASP program: the transformer and how to encode inputs and decode outputs.

    `run_batch` is the fast path: every input encoded at once into one padded id array, one
    pruned forward (`runtime.FastForward`) per chunk of similar lengths, outputs decoded in
    bulk (`OutputCodec`), Python lists made only at the end.
    """

    def __init__(self, model: runtime.Transformer, manifest: dict[str, Any]):
        self.model = model.eval()
        self.manifest = manifest
        self.vocab = manifest["vocab"]
        self.max_seq_len = manifest["max_seq_len"]
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
        self.codec = OutputCodec(manifest["output"])
        self._fast: runtime.FastForward | None = None
        self._fast_key: tuple | None = None
        self.env: Environment | None = None
        self.node: ir.SOp | None = None

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.manifest["stats"])

    def encode(self, tokens: Any) -> list[int]:
        """BOS then the token ids; a ValueError names a token outside the vocabulary."""
        seq = self._sequence(tokens)
        ids = [self.manifest["bos"]]
        for t in seq:
            i = self._index.get(vkey(t))
            if i is None:
                raise ValueError(f"token {t!r} is not in the vocabulary {self.vocab}")
            ids.append(i)
        return ids

    def _sequence(self, tokens: Any) -> str | list[Any]:
        try:
            seq = normalise_input(tokens)
        except RaspError as err:
            raise ValueError(err.message) from None
        if len(seq) > self.max_seq_len:
            raise ValueError(f"input of {len(seq)} tokens is longer than the compiled "
                             f"max_seq_len {self.max_seq_len}")
        return seq

    def encode_batch(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [N, 1 + longest], lengths [N] counting BOS): BOS first, right-padded with BOS.

        Tokens of one type are looked up in one dict by value (C-speed `map`); mixed types
        by their (type, value) identity, so 1, 1.0 and True stay different tokens."""
        seqs = inputs
        if not set(map(type, inputs)) <= {str, list, tuple}:
            seqs = [self._sequence(x) for x in inputs]
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        if len(seqs) and (lengths.min() == 0 or lengths.max() > self.max_seq_len):
            bad = int(np.argmax((lengths == 0) | (lengths > self.max_seq_len)))
            self._sequence(seqs[bad])  # raises, saying why
        if self._char_ids is not None and set(map(type, seqs)) == {str}:
            ids = self._encode_text(seqs)
        else:
            ids = self._encode_tokens(seqs)
        bos = self.manifest["bos"]
        width = int(lengths.max()) if len(seqs) else 0
        tokens = np.full((len(seqs), 1 + width), bos, dtype=np.int64)
        tokens[:, 1:][np.arange(width)[None, :] < lengths[:, None]] = ids
        return tokens, lengths + 1

    def _encode_text(self, texts: list[str]) -> np.ndarray:
        """Ids of every character of plain-text inputs: one array lookup over code points."""
        points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        lut = self._char_ids
        ids = lut[np.minimum(points, len(lut) - 1)]
        if (ids < 0).any():
            for x in texts:
                self.encode(x)  # raises, naming the token
        return ids

    def _encode_tokens(self, seqs: Sequence[Any]) -> np.ndarray:
        flat = list(itertools.chain.from_iterable(seqs))
        types = set(map(type, flat))
        table = self._by_type.get(types.pop()) if len(types) == 1 else None
        try:
            if table is not None:
                ids = np.fromiter(map(table.__getitem__, flat), dtype=np.int64, count=len(flat))
            else:
                index = self._index
                ids = np.fromiter((index[vkey(t)] for t in flat), dtype=np.int64,
                                  count=len(flat))
        except (KeyError, TypeError):
            for x in seqs:
                self.encode(x)  # raises, naming the token
            raise
        return ids

    def fast_forward(self) -> runtime.FastForward:
        """The pruned forward of the current weights (rebuilt when a weight changed)."""
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device)
                    for p in self.model.parameters())
        if self._fast is None or key != self._fast_key:
            self._fast, self._fast_key = runtime.FastForward(self.model), key
        return self._fast

    def forward(self, inputs: Sequence[Any], output: str = "logits") -> list[torch.Tensor]:
        """Per input, the model's logits (or final residual) at BOS and each token."""
        tokens, lengths = self.encode_batch(inputs)
        out = runtime.run_padded(self.fast_forward(), tokens, lengths, output)
        return [torch.from_numpy(row[:n]) for row, n in zip(out, lengths, strict=True)]

    def run(self, tokens: Any) -> list[Any]:
        return self.run_batch([tokens])[0]

    def run_arrays(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(outputs [N, longest] as an object array of Python values, lengths [N])."""
        tokens, lengths = self.encode_batch(inputs)
        cols = slice(0, 1) if self.codec.numeric else None
        logits = runtime.run_padded(self.fast_forward(), tokens, lengths, columns=cols)
        return self.codec.decode(logits[:, 1:]), lengths - 1

    def run_batch(self, inputs: Sequence[Any]) -> list[list[Any]]:
        if not inputs:
            return []
        values, lengths = self.run_arrays(inputs)
        return [row[:n].tolist() for row, n in zip(values, lengths.tolist(), strict=True)]

    def save(self, path: str | os.PathLike) -> None:
        runtime.save(self.model, path, self.manifest)

    def plan_text(self, columns: int | None = None) -> str:
        """The layer-by-layer plan, cut to `columns` (default: the terminal's width)."""
        from .report import plan_text

        return plan_text(self.manifest, columns)


def load(path: str | os.PathLike, device: str | None = None) -> CompiledProgram:
    """Read a compiled model file (weights and manifest; nothing in it is executed)."""
    model, manifest = runtime.load(path, device=device or "cpu")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise runtime.ModelFileError(f"{path}: a raspc model, but not a compiled RASP program")
    vocab = manifest.get("vocab")
    if not isinstance(vocab, list) or not vocab:
        raise runtime.ModelFileError(f"{path}: damaged manifest: the vocabulary is empty")
    try:
        return CompiledProgram(model, manifest)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise runtime.ModelFileError(f"{path}: damaged manifest ({type(err).__name__}: {err})"
                                     ) from None
