"""The manifest: what a compiled model's weights mean, as the tools read it.

The compiler fills it (`assemble`, `program`); `rasp show`, `draw`, `attention`, the REPL,
the report and `verify` read only these types. A model file stores it as JSON beside the
weights (`to_json`); `from_json` validates it and reads older versions, so a damaged or newer
file is one clear error naming the version, never a KeyError deep in a tool.

Residual dimension 0 is a constant 1 and dimension 1 the BOS indicator (`Reserved`); every
other value the model stores has one entry, one class per kind: a token or position
embedding, a head's output or an MLP's. Nodes of
the program are named by stable references (`refs`), never by process-local IR ids.
Encodings have one vocabulary: 'categorical' (one-hot over `values`) or 'numerical'.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

from compiler import refs
from compiler.manifest_v1 import upgrade
from compiler.refs import Ref
from rasp import ir

FORMAT = "raspc-compiled"
VERSION = 2  # 1: no version key, 'cat'/'num' encodings, IR ids, max_seq_len, plan blocks
ENCODINGS = ("categorical", "numerical")
Encoding = Literal["categorical", "numerical"]
D_ONE, D_BOS = 0, 1


class ManifestError(ValueError):
    """A manifest this raspc cannot read: the message names its version and what is wrong."""


@dataclass(frozen=True, kw_only=True)
class Value:
    """A value with residual dimensions [start, end)."""

    kind: ClassVar[str]
    sublayer: ClassVar[str]  # 'embedding' 'attention' 'mlp'
    label: str  # the variable's name, else its source text
    encoding: Encoding
    dims: tuple[int, int]
    layer: int  # -1 for embeddings
    where: str = ""  # file:line:col of its expression
    text: str = ""  # the first line of that expression
    role: str = ""  # what the compiler built it as
    node: int | None = None  # the program node whose value it holds (a `refs.NodeRef` index)
    proj: tuple[tuple[float, ...], ...] = ()  # the dims hold proj @ (encoding - base)
    base: tuple[float, ...] = ()
    values: list[Any] | None = None  # a categorical value's one-hot order

    @property
    def width(self) -> int:
        return self.dims[1] - self.dims[0]


@dataclass(frozen=True, kw_only=True)
class Reserved(Value):
    """A dimension every reader uses: the constant 1 (`One`) or the BOS indicator (`BosFlag`)."""

    sublayer: ClassVar[str] = "embedding"


@dataclass(frozen=True, kw_only=True)
class One(Reserved):
    kind: ClassVar[str] = "constant"


@dataclass(frozen=True, kw_only=True)
class BosFlag(Reserved):
    kind: ClassVar[str] = "bos"


@dataclass(frozen=True, kw_only=True)
class Embedding(Value):
    """A function of the token (`TokenValue`) or of the position (`PositionValue`)."""

    sublayer: ClassVar[str] = "embedding"


@dataclass(frozen=True, kw_only=True)
class TokenValue(Embedding):
    kind: ClassVar[str] = "tok"


@dataclass(frozen=True, kw_only=True)
class PositionValue(Embedding):
    kind: ClassVar[str] = "pos"


@dataclass(frozen=True, kw_only=True)
class HeadValue(Value):
    """An attention head's output; `selector` is what it attends with (`selector_ref`: the
    program's selector, or what the compiler built from its nodes; None when neither)."""

    kind: ClassVar[str] = "head"
    sublayer: ClassVar[str] = "attention"
    selector: str = ""
    selector_ref: Ref | None = None
    d_qk: int = 0


@dataclass(frozen=True, kw_only=True)
class MlpValue(Value):
    """A discretising MLP's output, `hidden` units wide."""

    kind: ClassVar[str] = "mlp"
    sublayer: ClassVar[str] = "mlp"
    hidden: int = 0


@dataclass(frozen=True)
class Layer:
    """One block's shapes: heads (all `d_head` wide) and the MLP's hidden width."""

    index: int
    heads: int
    d_head: int
    mlp_hidden: int


@dataclass(frozen=True)
class Output:
    """How the unembedding's read-out decodes: argmax over a one-hot, or a number snapped to
    `values` (None: any number)."""

    encoding: Encoding
    values: list[Any] | None
    label: str = ""
    where: str = ""
    typed: bool = False  # numbers: a 2nd column, 1 where the value is not a float (numtype)


@dataclass(frozen=True)
class Stats:
    layers: int
    heads: int
    d_model: int
    mlp_hidden: int
    params: int


@dataclass(frozen=True)
class Manifest:
    """A compiled program's contract with the tools (see the module's docstring)."""

    expr: str
    source: str | None
    vocab: list[Any]
    max_len: int  # the longest input, in tokens (the model has max_len + 1 positions: BOS)
    causal: bool
    output: Output
    layout: tuple[Value, ...]
    layers: tuple[Layer, ...]
    stats: Stats
    compile_seconds: float
    version: int = VERSION  # the version it was read from (written: always VERSION)
    dtype: str = "float32"  # what the weights compute in (float64 where float32 cannot)

    @property
    def bos(self) -> int:
        """BOS's token id: one past the vocabulary."""
        return len(self.vocab)

    def heads(self) -> list[tuple[int, int, HeadValue]]:
        """Every attention head as (layer, head index in the layer, its output value)."""
        found: list[tuple[int, int, HeadValue]] = []
        for v in self.layout:
            if isinstance(v, HeadValue):
                found.append((v.layer, sum(1 for f in found if f[0] == v.layer), v))
        return found

    def blocks(self, layer: int) -> list[HeadValue | MlpValue]:
        """A layer's heads, then its MLP slices, in weight order."""
        return [v for v in self.layout if isinstance(v, HeadValue | MlpValue) and v.layer == layer]

    def placed(self, root: ir.IRNode) -> dict[int, Value]:
        """IR id (of `root`'s graph, the compiled expression) → the value holding that node."""
        nodes = list(ir.walk(root))
        return {
            nodes[v.node].id: v
            for v in self.layout
            if v.node is not None and 0 <= v.node < len(nodes)
        }

    def selector(self, head: HeadValue, root: ir.IRNode) -> ir.Selector | None:
        """The selector `head` attends with, in `root`'s graph (the compiled expression's;
        rebuilt from its nodes where the compiler built it); None where the manifest cannot
        say (a version 1 file, or a program other than the one compiled)."""
        if head.selector_ref is None:
            return None
        found = refs.resolve(head.selector_ref, list(ir.walk(root)))
        return found if isinstance(found, ir.Selector) else None

    def to_json(self) -> dict[str, Any]:
        """The manifest as this raspc writes it: always the current version's format."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "expr": self.expr,
            "source": self.source,
            "vocab": list(self.vocab),
            "max_len": self.max_len,
            "causal": self.causal,
            "output": {
                "encoding": self.output.encoding,
                "values": self.output.values,
                "node": self.output.label,
                "where": self.output.where,
                "typed": self.output.typed,
            },
            "layout": [_value_json(v) for v in self.layout],
            "layers": [dataclasses.asdict(x) for x in self.layers],
            "stats": dataclasses.asdict(self.stats),
            "compile_seconds": self.compile_seconds,
            "dtype": self.dtype,
        }

    @staticmethod
    def from_json(data: Any) -> Manifest:
        """Validate a stored manifest (version 1 is upgraded); raises ManifestError."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError("a raspc model, but not a compiled RASP program")
        vocab = data.get("vocab")
        if not isinstance(vocab, list) or not vocab:
            raise ManifestError("damaged manifest: the vocabulary is empty")
        version = data.get("version", 1)
        if version == 1:
            data = upgrade(data)
        elif version != VERSION:
            raise ManifestError(
                f"manifest version {version!r}: this raspc reads versions 1 to {VERSION}"
            )
        try:
            return _read(data)
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ManifestError(
                f"damaged manifest (version {version}): {type(err).__name__}: {err}"
            ) from None


def jsonable(values: list[Any] | None) -> list[Any] | None:
    """A value set as JSON keeps it: tuples become lists, anything else not JSON its repr."""
    if values is None:
        return None
    out: list[Any] = []
    for v in values:
        if isinstance(v, tuple):
            out.append(list(v))
        elif isinstance(v, int | float | str | bool) or v is None:
            out.append(v)
        else:
            out.append(repr(v))
    return out


def _value_json(v: Value) -> dict[str, Any]:
    d: dict[str, Any] = {
        "node": v.label,
        "kind": v.kind,
        "encoding": v.encoding,
        "dims": list(v.dims),
        "layer": v.layer,
        "where": v.where,
        "text": v.text,
        "role": v.role,
        "ref": v.node,
        "proj": [list(r) for r in v.proj],
        "base": list(v.base),
        "values": v.values,
    }
    if isinstance(v, HeadValue):
        d.update(
            selector=v.selector,
            d_qk=v.d_qk,
            selector_ref=None if v.selector_ref is None else refs.to_json(v.selector_ref),
        )
    elif isinstance(v, MlpValue):
        d["hidden"] = v.hidden
    return d


def _encoding(x: Any) -> Encoding:
    if x not in ENCODINGS:
        raise ValueError(f"unknown encoding {x!r}")
    return cast(Encoding, x)


def _int(x: Any, what: str) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise ValueError(f"{what} is not an integer: {x!r}")
    return x


def _read_value(d: dict[str, Any]) -> Value:
    dims = (_int(d["dims"][0], "dims"), _int(d["dims"][1], "dims"))
    node = d.get("ref")
    common: dict[str, Any] = dict(
        label=str(d["node"]),
        encoding=_encoding(d["encoding"]),
        dims=dims,
        layer=_int(d["layer"], "layer"),
        where=str(d.get("where", "")),
        text=str(d.get("text", "")),
        role=str(d.get("role", "")),
        node=None if node is None else _int(node, "ref"),
        proj=tuple(tuple(float(x) for x in row) for row in d.get("proj", [])),
        base=tuple(float(x) for x in d.get("base", [])),
        values=d.get("values"),
    )
    kind = d["kind"]
    plain = {c.kind: c for c in (One, BosFlag, TokenValue, PositionValue)}
    if kind in plain:
        return plain[kind](**common)
    if kind == "head":
        sel = d.get("selector_ref")
        return HeadValue(
            selector=str(d.get("selector", "")),
            d_qk=_int(d["d_qk"], "d_qk"),
            selector_ref=None if sel is None else refs.from_json(sel),
            **common,
        )
    if kind == "mlp":
        return MlpValue(hidden=_int(d["hidden"], "hidden"), **common)
    raise ValueError(f"unknown value kind {kind!r}")


def _dtype(name: Any) -> str:
    if name not in ("float32", "float64"):
        raise ValueError(f"the weights' dtype is not float32 or float64: {name!r}")
    return str(name)


def _read(d: dict[str, Any]) -> Manifest:
    vocab = d["vocab"]
    out = d["output"]
    values = out.get("values")
    if values is not None and not isinstance(values, list):
        raise ValueError(f"output values are not a list: {values!r}")
    stats = d["stats"]
    source = d.get("source")
    manifest = Manifest(
        expr=str(d["expr"]),
        source=None if source is None else str(source),
        vocab=[tuple(t) if isinstance(t, list) else t for t in vocab],
        max_len=_int(d["max_len"], "max_len"),
        causal=bool(d["causal"]),
        output=Output(
            _encoding(out["encoding"]),
            values,
            str(out.get("node", "")),
            str(out.get("where", "")),
            bool(out.get("typed", False)),
        ),
        layout=tuple(_read_value(v) for v in d["layout"]),
        layers=tuple(
            Layer(*(_int(x[k], k) for k in ("index", "heads", "d_head", "mlp_hidden")))
            for x in d["layers"]
        ),
        stats=Stats(
            *(_int(stats[k], k) for k in ("layers", "heads", "d_model", "mlp_hidden", "params"))
        ),
        compile_seconds=float(d.get("compile_seconds", 0.0)),
        version=_int(d["version"], "version"),
        dtype=_dtype(d.get("dtype", "float32")),
    )
    _check_shapes(manifest)
    return manifest


def _check_shapes(m: Manifest) -> None:
    """The layout fits the residual stream and the layers hold the heads it names."""
    for v in m.layout:
        if not 0 <= v.dims[0] <= v.dims[1] <= m.stats.d_model:
            raise ValueError(
                f"`{v.label}` has dims {list(v.dims)} outside d_model {m.stats.d_model}"
            )
        if v.layer >= len(m.layers):
            raise ValueError(f"`{v.label}` is in layer {v.layer} of {len(m.layers)}")
    per_layer = [sum(1 for lay, _h, _v in m.heads() if lay == x.index) for x in m.layers]
    if [x.index for x in m.layers] != list(range(len(m.layers))) or per_layer != [
        x.heads for x in m.layers
    ]:
        raise ValueError("the layers do not match the heads of the layout")
