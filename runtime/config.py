"""The shapes and options of a `Transformer`, checked on construction; JSON in model files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ACTIVATIONS = ("relu", "gelu")
NORMS = ("none", "layernorm", "rmsnorm")
ATTN_IMPLS = ("sdpa", "math")


@dataclass
class LayerConfig:
    """One layer: n_heads attention heads of width d_head, then an MLP of width d_mlp.

    n_heads=0 means no attention sublayer; d_mlp=0 means no MLP sublayer.
    """

    n_heads: int
    d_head: int
    d_mlp: int

    def __post_init__(self) -> None:
        for name in ("n_heads", "d_head", "d_mlp"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"LayerConfig.{name} must be a non-negative int, not {value!r}")
        if self.n_heads and not self.d_head:
            raise ValueError("LayerConfig.d_head must be positive when n_heads > 0")


@dataclass
class TransformerConfig:
    """Shapes and options of a Transformer; serialised as JSON in model files."""

    vocab_size: int
    max_seq_len: int
    d_model: int
    layers: list[LayerConfig] = field(default_factory=list)
    activation: str = "relu"
    norm: str = "none"
    causal: bool = False
    attn_scale: float | None = None
    bias: bool = True
    d_out: int | None = None
    pos_embedding: bool = True
    attn_impl: str = "sdpa"
    tie_embeddings: bool = False  # unembed shares tok_emb's matrix (GPT-2); needs d_out unset

    def __post_init__(self) -> None:
        self.layers = [
            ly if isinstance(ly, LayerConfig) else LayerConfig(**ly) for ly in self.layers
        ]
        for name in ("vocab_size", "max_seq_len", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TransformerConfig.{name} must be a positive int, not {value!r}")
        if self.d_out is not None and (not isinstance(self.d_out, int) or self.d_out <= 0):
            raise ValueError(f"TransformerConfig.d_out must be a positive int, not {self.d_out!r}")
        if self.tie_embeddings and self.out_features != self.vocab_size:
            raise ValueError("tie_embeddings needs an unembedding over the vocabulary (no d_out)")
        for name, allowed in (
            ("activation", ACTIVATIONS),
            ("norm", NORMS),
            ("attn_impl", ATTN_IMPLS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TransformerConfig.{name} must be one of {allowed}, "
                    f"not {getattr(self, name)!r}"
                )

    @property
    def out_features(self) -> int:
        """Width of the unembedding: d_out, or vocab_size when d_out is None."""
        return self.vocab_size if self.d_out is None else self.d_out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (layers as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        """Inverse of `to_dict`; unknown keys are an error rather than silently dropped."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown TransformerConfig fields: {sorted(unknown)}")
        return cls(**data)
