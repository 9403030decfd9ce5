"""The transformer that runs every model in raspc: compiled RASP programs and trained LMs.

One readable module in the style of nanoGPT's model.py. Layers may differ in head count, head
width and MLP width (a compiler places exactly the heads and MLP slices each layer needs), and a
layer may lack either sublayer. Shapes in comments use B batch, T query length, S key length
(T plus cached keys), H heads, Dh head width, D d_model. The shapes and options are a
`TransformerConfig` (runtime/config.py); incremental decoding keeps a `KVCache` (kvcache.py).

Weight layout, for a compiler that fills the weights directly (`nn.Linear` computes x @ W.T + b,
so W is [out_features, in_features]):

- `tok_emb.weight` [vocab_size, D]; `pos_emb.weight` [max_seq_len, D] (absent without
  `pos_embedding`). The residual stream starts as tok_emb[token] + pos_emb[position].
- `blocks[i].attn.qkv`: Linear(D, 3*H*Dh). Output rows are [queries | keys | values], each
  H*Dh rows with head h at rows h*Dh:(h+1)*Dh. So the query of head h, dimension j, is row
  h*Dh + j; its key is row H*Dh + h*Dh + j; its value is row 2*H*Dh + h*Dh + j.
  `Attention.head(h)` returns these blocks as views.
- `blocks[i].attn.proj`: Linear(H*Dh, D); input columns h*Dh:(h+1)*Dh read head h's output.
- `blocks[i].mlp.fc`: Linear(D, d_mlp); `blocks[i].mlp.proj`: Linear(d_mlp, D).
- `norm`: the final norm (nn.Identity for norm='none'); `unembed`: Linear(D, d_out).

Each block computes x = x + attn(norm1(x)); x = x + mlp(norm2(x)). Attention logits are
scale * q.k with scale = attn_scale (1/sqrt(Dh) when None); a large scale gives the near-hard
attention compiled models rely on.

Padding masks follow `nn.MultiheadAttention`'s key_padding_mask: True marks a padding position.
Padding may sit on either side: a token's position is the number of real tokens before it, so a
left-padded sequence gets the same positions as the unpadded one.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from runtime.attention import Attention
from runtime.config import ATTN_IMPLS, LayerConfig, TransformerConfig
from runtime.kvcache import KVCache, LayerKV


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (no centring, no bias)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str, dim: int, bias: bool) -> nn.Module:
    """The norm named by `kind`; 'none' is the identity (compiled models)."""
    if kind == "layernorm":
        return nn.LayerNorm(dim, bias=bias)
    if kind == "rmsnorm":
        return RMSNorm(dim)
    return nn.Identity()


class MLP(nn.Module):
    """Two GEMMs with an activation between: D -> d_mlp -> D."""

    def __init__(self, d_model: int, d_mlp: int, activation: str, bias: bool):
        super().__init__()
        self.fc = nn.Linear(d_model, d_mlp, bias=bias)
        self.act = nn.ReLU() if activation == "relu" else nn.GELU()
        self.proj = nn.Linear(d_mlp, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(x)))


class Block(nn.Module):
    """One layer: pre-norm attention and MLP sublayers, each added to the residual stream."""

    def __init__(self, config: TransformerConfig, layer: LayerConfig):
        super().__init__()
        D = config.d_model
        self.norm1 = make_norm(config.norm, D, config.bias) if layer.n_heads else None
        self.attn = (
            Attention(D, layer.n_heads, layer.d_head, config.bias, config.attn_scale)
            if layer.n_heads
            else None
        )
        self.norm2 = make_norm(config.norm, D, config.bias) if layer.d_mlp else None
        self.mlp = MLP(D, layer.d_mlp, config.activation, config.bias) if layer.d_mlp else None

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        is_causal: bool,
        impl: str,
        kv: LayerKV | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        if self.attn is not None and self.norm1 is not None:  # set together
            x = x + self.attn(self.norm1(x), mask, is_causal, impl, kv, start)
        if self.mlp is not None and self.norm2 is not None:
            x = x + self.mlp(self.norm2(x))
        return x

    def weights(
        self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool
    ) -> torch.Tensor | None:
        """The attention weights [B,H,T,T] on the block's input x (None without heads)."""
        if self.attn is None or self.norm1 is None:
            return None
        return self.attn.weights(self.norm1(x), mask, is_causal)


class Transformer(nn.Module):
    """Embeddings, a stack of blocks, a final norm and an unembedding."""

    def __init__(self, config: TransformerConfig, init: bool = True):
        """`init=False` skips GPT-2's random init, for a caller that sets every weight itself
        (the compiler: 0.3 s of a compile at d_model 2,000)."""
        super().__init__()
        self.config = config
        D = config.d_model
        self.tok_emb = nn.Embedding(config.vocab_size, D)
        self.pos_emb = nn.Embedding(config.max_seq_len, D) if config.pos_embedding else None
        self.blocks = nn.ModuleList(Block(config, layer) for layer in config.layers)
        self.norm = make_norm(config.norm, D, config.bias)
        self.unembed = nn.Linear(D, config.out_features, bias=config.bias)
        if init:
            self.apply(self._init_weights)
        if config.tie_embeddings:
            self.unembed.weight = self.tok_emb.weight
        if init:  # GPT-2's scaled init of the projections that write into the residual stream
            std = 0.02 / math.sqrt(2 * max(1, len(config.layers)))
            for name, p in self.named_parameters():
                if name.endswith("proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, embeddings: bool = True) -> int:
        """Parameter count; without the token/position embeddings when `embeddings` is False."""
        n = sum(p.numel() for p in self.parameters())
        if not embeddings:
            n -= self.tok_emb.weight.numel()
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
        return n

    def forward(
        self,
        idx: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        return_residual: bool = False,
        attn_impl: str | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits [B,T,d_out] for tokens idx [B,T]; with `return_residual`, also the residual
        stream after the last block (before the final norm) [B,T,D].

        pad_mask [B,T] is True at padding positions: no query attends to them, and their own
        outputs are meaningless. `attn_impl` ('sdpa' or 'math') overrides the config's.
        """
        x = self.residual(idx, pad_mask, attn_impl)
        logits = self.unembed(self.norm(x))
        return (logits, x) if return_residual else logits

    def residual(
        self,
        idx: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        attn_impl: str | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """The residual stream [B,T,D] after the last block; with `cache`, idx continues the
        cached sequence and its keys/values are appended to the cache."""
        impl = attn_impl or self.config.attn_impl
        if cache is not None and not self.config.causal:
            raise ValueError("a KV cache needs a causal model: earlier tokens would see later ones")
        if impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, not {impl!r}")
        T = idx.shape[1]
        start = cache.length if cache is not None else 0
        x, mask, is_causal = self._embed(idx, pad_mask, cache, start)
        for i, block in enumerate(self.blocks):
            kv = cache.layers[i] if cache is not None else None
            x = block(x, mask, is_causal, impl, kv, start)
        if cache is not None:
            cache.length = start + T
        return x

    def attention_weights(
        self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> list[torch.Tensor | None]:
        """Per layer, the softmax weights [B,H,T,T] its heads give each key on idx [B,T]
        (None for a layer without heads): what a model attends to, for plots and checks."""
        x, mask, is_causal = self._embed(idx, pad_mask, None, 0)
        found: list[torch.Tensor | None] = []
        for block in cast("list[Block]", list(self.blocks)):
            found.append(block.weights(x, mask, is_causal))
            x = block(x, mask, is_causal, "math")
        return found

    def _embed(
        self, idx: torch.Tensor, pad_mask: torch.Tensor | None, cache: KVCache | None, start: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """The embedded input [B,T,D], the attention mask and whether it is plain causal."""
        T = idx.shape[1]
        if start + T > self.config.max_seq_len:
            raise ValueError(
                f"sequence length {start + T} exceeds max_seq_len {self.config.max_seq_len}"
            )
        if pad_mask is not None and pad_mask.shape != idx.shape:
            raise ValueError(
                f"pad_mask shape {tuple(pad_mask.shape)} != idx shape {tuple(idx.shape)}"
            )
        valid, n_before = self._key_validity(idx, pad_mask, cache, start)
        x = self.tok_emb(idx)  # [B,T,D]
        if self.pos_emb is not None:
            x = x + self.pos_emb(self._positions(valid, n_before, start, T, idx.device))
        mask, is_causal = self._attention_mask(valid, start, T)
        return x, mask, is_causal

    @staticmethod
    def _key_validity(
        idx: torch.Tensor, pad_mask: torch.Tensor | None, cache: KVCache | None, start: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Which keys [B,S] are real tokens (None when all are), and how many real tokens each
        row had before this call ([B], None without padding)."""
        if cache is None:
            if pad_mask is None:
                return None, None
            return ~pad_mask, torch.zeros(idx.shape[0], dtype=torch.long, device=idx.device)
        if pad_mask is not None and cache.valid is None:
            B = idx.shape[0]
            cache.valid = torch.ones(B, cache.capacity, dtype=torch.bool, device=idx.device)
            cache.n_valid = torch.full((B,), start, dtype=torch.long, device=idx.device)
        if cache.valid is None or cache.n_valid is None:  # set together
            return None, None
        T = idx.shape[1]
        cache.valid[:, start : start + T] = True if pad_mask is None else ~pad_mask
        n_before = cache.n_valid.clone()
        cache.n_valid += cache.valid[:, start : start + T].sum(1)
        return cache.valid[:, : start + T], n_before

    @staticmethod
    def _positions(
        valid: torch.Tensor | None,
        n_before: torch.Tensor | None,
        start: int,
        T: int,
        device: torch.device,
    ) -> torch.Tensor:
        """Positions [T] or [B,T]: the number of real tokens before each token."""
        if valid is None or n_before is None:  # given together
            return torch.arange(start, start + T, device=device)
        new = valid[:, start:].long()  # [B,T]
        return (n_before[:, None] + new.cumsum(1) - 1).clamp(min=0)

    def _attention_mask(
        self, valid: torch.Tensor | None, start: int, T: int
    ) -> tuple[torch.Tensor | None, bool]:
        """Boolean mask [B,1,T,S] (True = may attend), or None with SDPA's is_causal flag.

        A padding query with no real key to see attends to itself only, so no softmax row is
        empty (which would give NaN); its output is never read.
        """
        causal = self.config.causal
        if valid is None and (start == 0 or T == 1):
            return None, causal and start == 0  # a single new token may see every cached key
        S = start + T
        device = valid.device if valid is not None else self.tok_emb.weight.device
        q_pos = torch.arange(start, S, device=device)[:, None]  # [T,1]
        k_pos = torch.arange(S, device=device)[None, :]  # [1,S]
        mask = (k_pos <= q_pos) if causal else torch.ones(T, S, dtype=torch.bool, device=device)
        if valid is None:
            return mask[None, None], False
        mask = mask[None] & valid[:, None, :]  # [B,T,S]
        query_pad = ~valid[:, start:]  # [B,T]
        mask = mask | ((k_pos == q_pos)[None] & query_pad[:, :, None])
        return mask[:, None], False

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        greedy: bool = False,
        use_cache: bool = True,
        pad_mask: torch.Tensor | None = None,
        eos_token: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend each prompt in idx [B,T] by up to max_new_tokens tokens; returns [B,T+n].

        Greedy (argmax) or sampled from softmax(logits / temperature), optionally restricted
        to the top_k tokens. Ragged prompts are left-padded with pad_mask True on the padding.
        Once a row emits eos_token it keeps emitting it, and decoding stops when every row has.
        The KV cache is used for causal models only (a bidirectional model must recompute every
        position). Past max_seq_len the context is cropped to the last max_seq_len tokens and
        recomputed at every step, with or without the cache, so both give the same tokens.
        """
        if self.config.out_features != self.config.vocab_size:
            raise ValueError("generate needs an unembedding over the vocabulary (d_out is set)")
        if not greedy and temperature <= 0:
            raise ValueError("temperature must be positive (use greedy=True for argmax)")
        L = self.config.max_seq_len
        B = idx.shape[0]
        use_cache = use_cache and self.config.causal
        pad = pad_mask
        cache: KVCache | None = None
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            if cache is not None and cache.length < L:
                x = self.residual(idx[:, -1:], cache=cache)  # one new token
            else:  # no cache, first step, or a full cache: run the (cropped) context
                if use_cache:
                    cache = KVCache(self.config, B, idx.device, self.tok_emb.weight.dtype)
                x = self.residual(idx[:, -L:], None if pad is None else pad[:, -L:], cache=cache)
            logits = self.unembed(self.norm(x[:, -1])).float()  # [B,V]
            nxt = self._pick(logits, temperature, top_k, greedy, generator)  # [B]
            if eos_token is not None:
                nxt = torch.where(done, torch.full_like(nxt, eos_token), nxt)
                done |= nxt == eos_token
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            if pad is not None:
                pad = torch.cat([pad, torch.zeros_like(pad[:, :1])], dim=1)
            if eos_token is not None and bool(done.all()):
                break
        return idx

    @staticmethod
    def _pick(
        logits: torch.Tensor,
        temperature: float,
        top_k: int | None,
        greedy: bool,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Next token ids [B] from logits [B,V]."""
        if greedy:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = logits.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
