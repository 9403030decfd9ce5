"""Language-modelling data for a RASP program: `BOS input SEP output EOS` token sequences.

A program is a function from a batch of inputs to their outputs (the batched interpreter);
inputs are sampled over the program's vocabulary and a length range, deduplicated, and split
into train / validation / test by input, so no input is in two splits. An optional held-out
length range gives a fourth split, `long`, for length generalisation.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import rasp
from rasp import ast
from rasp.examples import SpecMissing, compile_spec, read_header
from rasp.parser import parse_program
from rasp.source import count_inputs, draw_inputs, every_input, read_source, resolve_load
from rasp.values import value_key

Program = Callable[[list[list[Any]]], list[list[Any]]]

PAD, BOS, SEP, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<sep>", "<eos>")


@dataclass
class Tokenizer:
    """Special tokens, then one token per distinct value (input tokens first, in the compiler's
    vocabulary order, then output values not among them).

    A value shared by inputs and outputs (`reverse`, `sort`) is one token. The value list is
    stored in checkpoints, so a trained model decodes without the program.
    """

    values: list[Any]
    _index: dict[tuple[type, Any], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {}
        for value in self.values:
            self._index.setdefault(value_key(value), len(SPECIALS) + len(self._index))
        if len(self._index) != len(self.values):
            raise ValueError("tokenizer values must be distinct")

    @classmethod
    def build(cls, vocab: Sequence[Any], outputs: Sequence[Any] = ()) -> Tokenizer:
        seen = {value_key(v): v for v in vocab}
        extra = {value_key(v): v for v in outputs if value_key(v) not in seen}
        return cls([*seen.values(), *sorted(extra.values(), key=_sort_key)])

    @property
    def size(self) -> int:
        return len(SPECIALS) + len(self.values)

    def id(self, value: Any) -> int:
        try:
            return self._index[value_key(value)]
        except KeyError:
            raise KeyError(f"{value!r} is not in the tokenizer's vocabulary") from None

    def encode(self, inputs: Sequence[Any], outputs: Sequence[Any] | None = None) -> list[int]:
        """`BOS inputs SEP` (a prompt), followed by `outputs EOS` when outputs are given."""
        ids = [BOS, *map(self.id, inputs), SEP]
        if outputs is not None:
            ids += [*map(self.id, outputs), EOS]
        return ids

    def decode(self, ids: Sequence[int]) -> list[Any]:
        """Values of the ids up to the first EOS; special tokens decode to their names."""
        out = []
        for i in ids:
            if i == EOS:
                break
            out.append(SPECIALS[i] if i < len(SPECIALS) else self.values[i - len(SPECIALS)])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"values": [[type(v).__name__, v] for v in self.values]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        casts = {"str": str, "int": int, "float": float, "bool": bool, "NoneType": lambda v: None}
        return cls([casts[kind](v) for kind, v in data["values"]])


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


@dataclass
class DataConfig:
    """What to sample: input lengths, how many distinct inputs, how to split them."""

    vocab: list[Any]
    min_len: int = 1
    max_len: int = 8
    n_examples: int = 20_000
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    long_range: tuple[int, int] | None = None  # held-out input lengths, e.g. (9, 12)
    n_long: int = 1_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.vocab:
            raise ValueError("the vocabulary is empty")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        if self.long_range is not None:
            lo, hi = self.long_range = tuple(self.long_range)
            if not self.max_len < lo <= hi:
                raise ValueError(f"the held-out lengths {lo}..{hi} must lie above max_len")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("validation and test fractions leave no training data")

    @property
    def longest(self) -> int:
        """The longest input in any split."""
        return self.long_range[1] if self.long_range else self.max_len


@dataclass
class Example:
    input: list[Any]
    output: list[Any]


@dataclass
class Dataset:
    """Splits of examples and the tokenizer that covers every value in them."""

    config: DataConfig
    tokenizer: Tokenizer
    splits: dict[str, list[Example]]

    @property
    def max_seq_len(self) -> int:
        """Positions a model needs: `BOS` + input + `SEP` + output + `EOS`."""
        longest_out = max(len(e.output) for split in self.splits.values() for e in split)
        return self.config.longest + longest_out + 3

    def tensors(self, split: str) -> SequenceBatch:
        return SequenceBatch.from_examples(self.splits[split], self.tokenizer)


def sample_inputs(
    vocab: Sequence[Any], lengths: tuple[int, int], n: int, rng: random.Random
) -> list[list[Any]]:
    """Up to `n` distinct inputs: every input (shuffled) when there are at most `n`, else a
    uniform length and uniform tokens per draw, so the data follow the plain distribution a
    learner is scored on (`rasp verify` instead favours long inputs, which find more bugs)."""
    lo, hi = lengths
    if count_inputs(vocab, range(lo, hi + 1)) <= n:
        found = every_input(vocab, range(lo, hi + 1))
        rng.shuffle(found)
        return found
    return draw_inputs(vocab, n, rng, lambda _draw: rng.randint(lo, hi), patience=50)


def make_dataset(program: Program, config: DataConfig) -> Dataset:
    """Sample, run and split; the same config and program always give the same dataset."""
    rng = random.Random(config.seed)
    inputs = sample_inputs(config.vocab, (config.min_len, config.max_len), config.n_examples, rng)
    n_val = max(1, round(len(inputs) * config.val_fraction))
    n_test = max(1, round(len(inputs) * config.test_fraction))
    if len(inputs) < n_val + n_test + 1:
        raise ValueError(f"only {len(inputs)} distinct inputs: too few to split")
    parts = split_by_length(inputs, {"val": n_val, "test": n_test}, rng)
    if config.long_range is not None:
        parts["long"] = sample_inputs(config.vocab, config.long_range, config.n_long, rng)
    splits = {}
    for name, xs in parts.items():
        ys = program(xs)
        splits[name] = [Example(list(x), _plain(y)) for x, y in zip(xs, ys, strict=True)]
    outputs = {value_key(v): v for split in splits.values() for e in split for v in e.output}
    return Dataset(config, Tokenizer.build(config.vocab, list(outputs.values())), splits)


def split_by_length(
    inputs: list[list[Any]], sizes: dict[str, int], rng: random.Random
) -> dict[str, list[list[Any]]]:
    """Held-out splits of the given sizes, stratified by input length; the rest is `train`.

    Rejection sampling finds short inputs first (there are few of them), so taking the first
    inputs found as validation would fill it with short ones. Instead the inputs are shuffled,
    ordered by length, and each held-out split takes evenly spaced positions of that order (a
    systematic sample), so every split sees each length in the proportion of the whole.
    """
    order = sorted(rng.sample(inputs, len(inputs)), key=len)  # shuffled within each length
    parts: dict[str, list[list[Any]]] = {}
    for name, k in sizes.items():
        step = len(order) / k
        picked = {int((i + rng.random()) * step) for i in range(k)}
        parts[name] = [order[i] for i in sorted(picked)]
        order = [x for i, x in enumerate(order) if i not in picked]
    parts["train"] = order
    for xs in parts.values():
        rng.shuffle(xs)
    return parts


def _plain(values: Sequence[Any]) -> list[Any]:
    """Interpreter outputs as plain Python values (numpy scalars have `.item()`)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def rasp_program(path: str | Path, expr: str, sources: dict[str, str] | None = None) -> Program:
    """The batched interpreter's function for s-op `expr` of the program at `path`, or of
    `sources` (from `program_sources`) when given: then no file of the program is read."""
    path = str(path)
    env = rasp.Environment()
    if sources is None:
        env.run_file(path)
    else:  # the saved files, laid out as they were beside the program
        with tempfile.TemporaryDirectory() as tmp:
            for rel, text in sources.items():
                target = Path(tmp, rel).resolve()
                if Path(tmp).resolve() not in target.parents:
                    raise ValueError(f"program source path {rel!r} leaves its directory")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")  # as read_source reads it
            main = Path(tmp, Path(path).name)
            env.run_file(str(main))
    env.expression(expr)  # fail now, with the interpreter's message, on a bad name

    def run(inputs: list[list[Any]]) -> list[list[Any]]:
        return env.evaluate_batch(expr, inputs) if inputs else []

    return run


def program_sources(path: str | Path) -> dict[str, str]:
    """The program's text and that of every file it loads, by path relative to the program's
    directory: what a checkpoint stores so the program can be rerun anywhere."""
    root = Path(path).resolve().parent
    found: dict[str, str] = {}
    todo = [str(path)]
    while todo:
        file = todo.pop()
        rel = os.path.relpath(Path(file).resolve(), root)
        if rel in found:
            continue
        found[rel] = text = read_source(file)
        for stmt in parse_program(text, file):
            if isinstance(stmt, ast.Load):
                todo.append(resolve_load(stmt.path, file))
    return found


@dataclass
class ProgramSpec:
    """A program file, the s-op to learn, its vocabulary and the longest input: each the
    caller's, else the file's header's."""

    path: str
    expr: str
    vocab: list[Any]
    max_len: int

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        expr: str | None = None,
        vocab: Sequence[Any] | None = None,
        max_len: int | None = None,
    ) -> ProgramSpec:
        """Fill what is not given from the `# compile:` header line, by the rule `rasp compile`
        uses (`compile_spec`), so a header means the same to both. An empty `expr` or `vocab`
        (`-e ''`, `--vocab ,`) falls back to the header like a missing one."""
        try:
            spec = compile_spec(
                read_header(str(path)), expr or None, list(vocab) if vocab else None, max_len
            )
        except SpecMissing as exc:
            raise ValueError(
                f"{path}: no {_MISSING[exc.missing[0]]} given and no '# compile:' header line"
            ) from None
        return cls(str(path), spec.expr, spec.vocab, spec.max_len)


# What each flag `compile_spec` names as missing is, in lm's error message.
_MISSING = {"-e": "expression", "--vocab": "vocabulary", "--max-len": "maximum length"}


@dataclass
class SequenceBatch:
    """Padded token ids `[n, T]` and which next-token targets are output tokens.

    `inputs = ids[:, :-1]` predicts `targets = ids[:, 1:]`; `output_mask` marks targets
    after `SEP` (the outputs and `EOS`), `target_mask` every target that is not padding.
    """

    ids: torch.Tensor
    lengths: torch.Tensor  # tokens per sequence, padding excluded

    @classmethod
    def from_examples(cls, examples: Sequence[Example], tokenizer: Tokenizer) -> SequenceBatch:
        seqs = [tokenizer.encode(e.input, e.output) for e in examples]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return cls(ids, torch.tensor([len(s) for s in seqs]))

    def __len__(self) -> int:
        return self.ids.shape[0]

    def select(self, index: torch.Tensor) -> SequenceBatch:
        """Rows `index`, trimmed to the longest of them."""
        lengths = self.lengths[index]
        return SequenceBatch(self.ids[index, : int(lengths.max())], lengths)

    @property
    def inputs(self) -> torch.Tensor:
        return self.ids[:, :-1]

    @property
    def targets(self) -> torch.Tensor:
        return self.ids[:, 1:]

    @property
    def target_mask(self) -> torch.Tensor:
        positions = torch.arange(1, self.ids.shape[1])
        return positions[None, :] < self.lengths[:, None]

    @property
    def output_mask(self) -> torch.Tensor:
        after_sep = (self.ids == SEP).long().cumsum(dim=1)[:, :-1] > 0
        return after_sep & self.target_mask

    def n_tokens(self) -> int:
        return int(self.lengths.sum())
