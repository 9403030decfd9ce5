"""The compiler's API: `compile` a RASP expression to a `CompiledProgram`, run it, save it
(safetensors: weights plus a JSON manifest, so loading a file can never run code), `load` it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

import runtime
from compiler import report
from compiler import values as values_mod
from compiler.assemble import Builder
from compiler.budget import DEFAULT_LIMIT, Budget, Progress
from compiler.codec import InputCodec, OutputCodec
from compiler.errors import CompileError
from compiler.lower import Lowerer
from compiler.manifest import Layer, Manifest, ManifestError, Stats
from compiler.normalise import Width, normalise
from compiler.precision import FLOAT32, FLOAT64, SAME, Precision
from compiler.refs import walk_index
from compiler.values import is_numeric_like, vkey
from rasp import ir
from rasp.columns import type_class
from rasp.env import Environment


def _environment(source: Environment | str | os.PathLike) -> tuple[Environment, str | None]:
    if isinstance(source, Environment):
        return source, None
    path = os.fspath(source)
    env = Environment()
    env.run_file(path)
    return env, path


def compile(
    source: Environment | str | os.PathLike,
    name: str,
    vocab: Sequence[Any],
    max_len: int,
    causal: bool = False,
    encodings: dict[str, str] | None = None,
    time_limit: float | None = DEFAULT_LIMIT,
    progress: Progress | None = None,
) -> CompiledProgram:
    """Compile the s-op `name` (a name or any expression) for inputs over `vocab` of length
    1..max_len (the model has one more position, BOS's). `encodings` overrides an
    aggregate's encoding by variable name ('categorical' or 'numerical'). Raises
    CompileError (or a RaspError from the program), also once `time_limit` seconds have
    passed (None: no limit); `progress(stage, done, total, seconds)` is called as nodes are
    done."""
    with _collector_paused():
        return _compile(source, name, vocab, max_len, causal, encodings, time_limit, progress)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one compile (back on after, if it was on):
    a compile allocates millions of short-lived objects and holds few cycles, and the
    collector's passes over them took 30% of the largest compiles (shuffle_dyck2@404)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _compile(
    source: Environment | str | os.PathLike,
    name: str,
    vocab: Sequence[Any],
    max_len: int,
    causal: bool,
    encodings: dict[str, str] | None,
    time_limit: float | None,
    progress: Progress | None,
) -> CompiledProgram:
    budget = Budget(time_limit, progress)
    start = time.perf_counter()
    env, path = _environment(source)
    vocab = list(dict.fromkeys(vocab))
    if not vocab:
        raise CompileError(
            "the vocabulary is empty",
            hint="name the tokens: --vocab a,b,c (or the `# compile:` header)",
        )
    if not isinstance(max_len, int) or max_len < 1:
        raise CompileError(
            f"max_len must be a positive integer, not {max_len!r}",
            hint="the longest input, in tokens: --max-len 8, say",
        )
    node = env.expression(name)
    if not isinstance(node, ir.SOp):
        what = "a selector" if isinstance(node, ir.Selector) else f"not an s-op ({node!r})"
        raise CompileError(
            f"`{name}` is {what}: only s-ops compile",
            hint="compile `selector_width(sel)` or `aggregate(sel, x)`",
        )
    normal = normalise(node)
    analysis = values_mod.analyse([normal], vocab, max_len, budget)
    if causal:
        _check_causal(normal)
    try:
        builder = _placed(analysis, normal, encodings, budget, causal, FLOAT32)
    except CompileError as err:
        if not err.precision:
            raise
        builder = _placed(analysis, normal, encodings, budget, causal, FLOAT64)
    masked = builder.causal
    model, layers = builder.build()
    manifest = Manifest(
        expr=name,
        source=path,
        vocab=list(vocab),
        max_len=max_len,
        causal=masked,
        output=builder.output,
        layout=builder.layout(walk_index(node)),
        layers=tuple(layers),
        stats=_stats(model, layers),
        compile_seconds=round(time.perf_counter() - start, 4),
        dtype=builder.prec.name,
    )
    prog = CompiledProgram(model, manifest)
    prog.env, prog.node = env, node
    return prog


def _placed(
    analysis: values_mod.Analysis,
    normal: ir.SOp,
    encodings: dict[str, str] | None,
    budget: Budget,
    causal: bool,
    precision: Precision,
) -> Builder:
    """The plan lowered and placed for weights of one float type (float32 first; float64
    only where float32 would refuse: a CompileError with `precision` set)."""
    lowerer = Lowerer(analysis, encodings, budget=budget, precision=precision)
    masked = lowerer.decide_causal(normal) or causal
    root = lowerer.lower(normal)
    return Builder(root, analysis.vocab, analysis.max_len, masked, precision, budget)


def _check_causal(node: ir.SOp) -> None:
    """A causal model is exact only if no query ever needs a later key."""
    for n in values_mod.walk([node]):
        if isinstance(n, ir.Aggregate | Width):
            if not _causal_selector(n.selector):
                raise CompileError(
                    "a causal model cannot compute this: its selector may select later positions",
                    n,
                    hint="compile without --causal: a causal model computes "
                    "only values whose selectors keep to earlier keys "
                    "(`select(indices, indices, <=)`, or an `and` with it)",
                )


def _causal_selector(sel: ir.Selector) -> bool:
    if isinstance(sel, ir.Select):
        return (
            isinstance(sel.keys, ir.Indices)
            and isinstance(sel.queries, ir.Indices)
            and sel.op in ("<", "<=", "==")
        )
    if isinstance(sel, ir.SelectorCombine) and sel.op == "and":
        return any(_causal_selector(s) for s in sel.inputs)
    if isinstance(sel, ir.SelectorCombine) and sel.op == "or":
        return all(_causal_selector(s) for s in sel.inputs)
    return False


def _stats(model: runtime.Transformer, layers: list[Layer]) -> Stats:
    return Stats(
        layers=len(layers),
        heads=sum(x.heads for x in layers),
        d_model=model.config.d_model,
        mlp_hidden=sum(x.mlp_hidden for x in layers),
        params=model.num_params(),
    )


def same_value(expected: Any, actual: Any) -> bool:
    """The one rule for 'the model gave the interpreter's value': numbers (int, float, bool)
    equal to `SAME` (1e-5) of their size, everything else equal by type and value."""
    if is_numeric_like(expected) and is_numeric_like(actual):
        e, a = float(expected), float(actual)
        return abs(e - a) <= SAME * max(1.0, abs(e))
    return vkey(expected) == vkey(actual)


def same_output(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """`same_value` at every position, and the same length."""
    return len(expected) == len(actual) and all(map(same_value, expected, actual))


def same_types(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """The same type at every position, as the interpreter prints it (1 is not 1.0, nor
    True): a compiled model gives the interpreter's value and its type."""
    return all(type_class(e) == type_class(a) for e, a in zip(expected, actual, strict=True))


def agrees(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """The one rule for "the model gave the interpreter's output", used by `rasp verify` and
    the REPL's `:compile`: the same values (`same_output`) of the same types."""
    return same_output(expected, actual) and same_types(expected, actual)


class CompiledProgram:
    """A compiled RASP program: the transformer and how to encode inputs and decode outputs.

    `run_batch` is the fast path: every input encoded at once into one padded id array, one
    pruned forward (`runtime.FastForward`) per chunk of similar lengths, outputs decoded in
    bulk (`OutputCodec`), Python lists made only at the end.
    """

    def __init__(self, model: runtime.Transformer, manifest: Manifest):
        self.model = model.eval()
        self.manifest = manifest
        self.vocab = manifest.vocab
        self.max_len = manifest.max_len  # the longest input (the model has one more position)
        self.inputs = InputCodec(self.vocab, manifest.bos, self.max_len)
        self.codec = OutputCodec(manifest.output)
        self._fast: runtime.FastForward | None = None
        self._fast_key: tuple | None = None
        # The module tree is fixed once compiled; walking it anew on every run cost ~0.5 ms
        # (12% of a batch of 1,024 for hist@64). Its parameters are read from it each time.
        self._modules = list(self.model.modules())
        self.env: Environment | None = None
        self.node: ir.SOp | None = None

    @property
    def stats(self) -> dict[str, int]:
        """layers, heads, d_model, mlp_hidden, params."""
        return dataclasses.asdict(self.manifest.stats)

    def encode(self, tokens: Any) -> list[int]:
        """BOS then the token ids; a ValueError names a token outside the vocabulary."""
        return self.inputs.encode(tokens)

    def encode_batch(self, inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [N, 1 + longest], lengths [N] counting BOS); see `InputCodec.encode_batch`."""
        return self.inputs.encode_batch(inputs)

    def fast_forward(self) -> runtime.FastForward:
        """The pruned forward of the current weights (rebuilt when a weight changed)."""
        key = tuple(
            (p.data_ptr(), p._version, p.dtype, p.device)
            for m in self._modules
            for p in m._parameters.values()
            if p is not None
        )
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
        """(outputs [N, longest], lengths [N]): int64 or float64 where every value the
        program can produce is an int or every one a float, else an object array of Python
        values (see `OutputCodec`). A model that reads no position decodes one entry per
        vocabulary token and sequence, then looks each position's value up by its token."""
        tokens, lengths = self.encode_batch(inputs)
        cols = slice(0, 1 + self.codec.typed) if self.codec.numeric else None
        fast = self.fast_forward()
        if fast.position_free and len(fast.tok) < tokens.shape[1]:
            table = self.codec.decode(runtime.run_token_logits(fast, tokens, lengths, cols))
            return _by_token(table, tokens[:, 1:]), lengths - 1
        logits = runtime.run_padded(fast, tokens, lengths, columns=cols)
        return self.codec.decode(logits[:, 1:]), lengths - 1

    def run_batch(self, inputs: Sequence[Any]) -> list[list[Any]]:
        if not inputs:
            return []
        values, lengths = self.run_arrays(inputs)
        return self.codec.rows(values, lengths)

    def save(self, path: str | os.PathLike) -> None:
        runtime.save(self.model, path, self.manifest.to_json())

    def plan_text(self, columns: int | None = None) -> str:
        """The layer-by-layer plan, cut to `columns` (default: the terminal's width)."""
        return report.plan_text(self.manifest, columns)


def _by_token(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """table[b, ids[b, t]] for every b, t: torch's gather where the values are numbers (4x
    faster than numpy's flat take, 10x than take_along_axis, over a million), else by flat
    index."""
    if table.dtype.kind in "bif":
        return torch.from_numpy(table).gather(1, torch.from_numpy(ids)).numpy()
    rows = np.arange(0, table.size, table.shape[1])[:, None]
    return np.take(table.reshape(-1), ids + rows)


def load(path: str | os.PathLike, device: str | None = None) -> CompiledProgram:
    """Read a compiled model file (weights and manifest; nothing in it is executed)."""
    model, data = runtime.load(path, device=device or "cpu")
    try:
        manifest = Manifest.from_json(data)
    except ManifestError as err:
        raise runtime.ModelFileError(f"{path}: {err}") from None
    if model.config.max_seq_len != manifest.max_len + 1:
        raise runtime.ModelFileError(
            f"{path}: the model has {model.config.max_seq_len} "
            f"positions, not max_len {manifest.max_len} + BOS"
        )
    return CompiledProgram(model, manifest)
