"""The compiler's API: `compile` a RASP expression to a `CompiledProgram`, run it, save it
(safetensors: weights plus a JSON manifest, so loading a file can never run code), `load` it.
"""

from __future__ import annotations

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

from . import plan as plan_mod
from . import values as values_mod
from .assemble import Builder
from .errors import CompileError
from .lower import Lowerer
from .values import vkey

FORMAT = "raspc-compiled"


def _environment(source: Environment | str | os.PathLike) -> tuple[Environment, str | None]:
    if isinstance(source, Environment):
        return source, None
    path = os.fspath(source)
    env = Environment()
    env.run(read_source(path), path)
    return env, path


def compile(source: Environment | str | os.PathLike, name: str, vocab: Sequence[Any],
            max_seq_len: int, causal: bool = False, encodings: dict[str, str] | None = None
            ) -> CompiledProgram:
    """Compile the s-op `name` (a name or any expression) for inputs over `vocab` of length
    1..max_seq_len. `encodings` overrides an aggregate's encoding by variable name
    ('categorical' or 'numerical'). Raises CompileError (or a RaspError from the program)."""
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
    analysis = values_mod.analyse([node], vocab, max_seq_len)
    first = plan_mod.next_id()
    try:
        lowerer = Lowerer(analysis, encodings)
        if causal:
            _check_causal(node)
        masked = lowerer.decide_causal(node) or causal
        root = lowerer.lower(node)
        builder = Builder(root, vocab, max_seq_len, masked)
        model, plan = builder.build()
        layout = builder.layout()
    finally:
        plan_mod.release(first)
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
        if isinstance(n, ir.Aggregate) or values_mod.patterns.match_width(n):
            sel = n.selector if isinstance(n, ir.Aggregate) else values_mod.patterns.match_width(
                n)[0]
            if not _causal_selector(sel):
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


class CompiledProgram:
    """A compiled RASP program: the transformer and how to encode inputs and decode outputs."""

    def __init__(self, model: runtime.Transformer, manifest: dict[str, Any]):
        self.model = model.eval()
        self.manifest = manifest
        self.vocab = manifest["vocab"]
        self.max_seq_len = manifest["max_seq_len"]
        self._index = {vkey(t): i for i, t in enumerate(self.vocab)}
        out = manifest["output"]
        self._out_values = out["values"]
        self._numeric = out["encoding"] == "numerical"
        if self._numeric and self._out_values:
            self._sorted = np.unique([float(v) for v in self._out_values])
            self._by_float: dict[float, Any] = {}
            for v in self._out_values:  # prefer ints over floats of the same value
                f = float(v)
                if f not in self._by_float or isinstance(self._by_float[f], float):
                    self._by_float[f] = v
        self.env: Environment | None = None
        self.node: ir.SOp | None = None

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.manifest["stats"])

    def encode(self, tokens: Any) -> list[int]:
        """BOS then the token ids; a ValueError names a token outside the vocabulary."""
        try:
            seq = normalise_input(tokens)
        except RaspError as err:
            raise ValueError(err.message) from None
        if len(seq) > self.max_seq_len:
            raise ValueError(f"input of {len(seq)} tokens is longer than the compiled "
                             f"max_seq_len {self.max_seq_len}")
        ids = [self.manifest["bos"]]
        for t in seq:
            i = self._index.get(vkey(t))
            if i is None:
                raise ValueError(f"token {t!r} is not in the vocabulary {self.vocab}")
            ids.append(i)
        return ids

    def forward(self, inputs: Sequence[Any], output: str = "logits") -> list[torch.Tensor]:
        seqs = [self.encode(x) for x in inputs]
        return runtime.forward_batched(self.model, seqs, output=output)

    def run(self, tokens: Any) -> list[Any]:
        return self.run_batch([tokens])[0]

    def run_batch(self, inputs: Sequence[Any]) -> list[list[Any]]:
        if not inputs:
            return []
        return [self.decode(t[1:].double().numpy()) for t in self.forward(inputs)]

    def decode(self, logits: np.ndarray) -> list[Any]:
        if not self._numeric:
            return [self._out_values[i] for i in logits.argmax(axis=1)]
        return [self._snap(float(x)) for x in logits[:, 0]]

    def _snap(self, x: float) -> Any:
        """A numeric output as the nearest value the program can produce (ints stay ints)."""
        if not self._out_values:
            return x
        i = int(np.searchsorted(self._sorted, x))
        best = min((j for j in (i - 1, i) if 0 <= j < len(self._sorted)),
                   key=lambda j: abs(self._sorted[j] - x))
        v = float(self._sorted[best])
        near = [abs(float(self._sorted[j]) - v) for j in (best - 1, best + 1)
                if 0 <= j < len(self._sorted)]
        tol = 0.45 * min(near) if near else 1e-4 * max(1.0, abs(v))
        if abs(v - x) <= tol:
            return self._by_float[v]
        return x

    def save(self, path: str | os.PathLike) -> None:
        runtime.save(self.model, path, self.manifest)

    def plan_text(self, columns: int | None = None) -> str:
        """The layer-by-layer plan, cut to `columns` (default: the terminal's width)."""
        from .report import plan_text

        return plan_text(self.manifest, columns)


def load(path: str | os.PathLike, device: str | None = None) -> CompiledProgram:
    """Read a compiled model file (weights and manifest; nothing in it is executed)."""
    model, manifest = runtime.load(path, device=device or "cpu")
    if manifest.get("format") != FORMAT:
        raise runtime.ModelFileError(f"{path}: a raspc model, but not a compiled RASP program")
    return CompiledProgram(model, manifest)
