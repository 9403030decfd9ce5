"""An inference-only forward of a `Transformer`, shaped for compiled RASP models.

It runs the weights `runtime.prune` keeps (each head at its own width, one fused q/k/v GEMM per
layer, empty sublayers and zero rows and columns dropped: each would add an exact 0.0) and
agrees with `Transformer.forward` up to the order of float additions. Three shortcuts follow
from where a compiled model reads its inputs:

- A layer that reads only embedding columns looks its q/k/v up per token and per position
  (`prune.embedding_tables`) instead of multiplying.
- A head whose keys depend on the token alone (a histogram's `select(tokens, tokens, ==)`, a
  length count) attends over vocabulary entries weighted by their counts, O(T * vocab) per
  sequence instead of O(T^2) (`runtime.bytoken`).
- A model that reads no position column anywhere (and is bidirectional) computes the same
  logits at every position holding the same token: it runs one row per vocabulary entry and
  sequence and gathers (hist@64: 65 positions, 4 rows; 4.4x less CPU time on 16,384 inputs).

Both token-class shortcuts apply where the vocabulary (BOS included) is smaller than the padded
length of a call; elsewhere the same heads run over positions.

Inputs are right-padded token ids [B, T] with the number of real tokens per row; padding keys
get no attention, and padding rows' outputs are meaningless (a position is its index, as in the
model for right padding). float32 runs with TF32 off; a float64 model runs in float64.

Measured on the benchmark programs (sort@32, hist@64, reverse@32, sort_freq@32; one CPU
thread) and not kept: SDPA instead of the plain softmax(q k^T) v (2x slower at these widths,
value widths of 1-4); the zero-heavy weights as sparse CSR (1.5x slower than dense once the
zero rows and columns are gone); torch.compile of the attention (1.1x faster after 200 s of
compiling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import torch
import torch.nn.functional as F

from runtime import bytoken, prune
from runtime.device import cpu_threads, exact_fp32, keep_freed_memory
from runtime.model import Block, Transformer

MLP_HIDDEN = 1 << 16  # hidden activations per MLP block on a CPU (256 KiB of float32)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush float subnormals to zero on this CPU thread, then restore. Near-hard attention
    makes many weights subnormal (e^-90), and x86 computes with those up to 100x slower
    (reverse@32's forward: 2.6x faster flushed); a weight under 1.2e-38 never moves an output
    the compiler bounds. torch has no getter: a subnormal times one tells the state."""
    before = torch.full((1,), 1e-39).mul_(1.0).item() == 0.0
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def _constant(a: prune.Attention) -> torch.Tensor:
    """What a layer without heads adds: its output bias (kept only because it is nonzero)."""
    return cast(torch.Tensor, a.o_bias)


def _read(x: torch.Tensor, read: int | torch.Tensor) -> torch.Tensor:
    return x[:, :read] if isinstance(read, int) else x.index_select(1, read)


class FastForward:
    """The pruned inference forward of a norm-free `Transformer` (see the module docstring).

    On a CPU it runs on `threads` intra-op threads (default 1): a compiled model's GEMMs are
    too thin to split (inner dimensions of 4-100), and on a shared machine idle worker
    threads spinning for work cost up to 10x the CPU time (measured: sort@16 over 10,000
    inputs took 2.2 CPU-s on 2 threads, 0.2 on one)."""

    def __init__(self, model: Transformer, threads: int | None = 1):
        config = model.config
        if config.norm != "none":
            raise ValueError("FastForward runs norm-free models (compiled programs) only")
        self.config = config
        self.threads = threads
        with torch.no_grad():
            self.tok = model.tok_emb.weight.detach().clone()
            self.pos = model.pos_emb.weight.detach().clone() if model.pos_emb is not None else None
            # Columns that still hold the token embedding alone (see runtime.prune).
            token_cols = (
                self.pos.ne(0).any(dim=0).logical_not()
                if self.pos is not None
                else torch.ones(config.d_model, dtype=torch.bool)
            )
            embedded = torch.ones(config.d_model, dtype=torch.bool)  # no sublayer wrote them
            self.layers: list[tuple[prune.Attention | None, prune.Mlp | None]] = []
            for block in cast("list[Block]", list(model.blocks)):
                attn = (
                    prune.attention(block.attn, self.tok, token_cols)
                    if block.attn is not None
                    else None
                )
                if attn is not None and attn.heads:
                    if bool(embedded[prune.read_columns(attn.w, attn.read)].all()):
                        prune.embedding_tables(attn, self.tok, self.pos)
                if attn is not None:
                    token_cols[attn.write] = embedded[attn.write] = False
                mlp = (
                    prune.mlp(block.mlp, config.activation == "gelu")
                    if block.mlp is not None
                    else None
                )
                if mlp is not None:
                    token_cols[mlp.write] = embedded[mlp.write] = False
                if attn is not None or mlp is not None:
                    self.layers.append((attn, mlp))
            self.by_token = any(h.keys is not None for a, _ in self.layers if a for h in a.heads)
            self.unembed = model.unembed.weight.detach().clone()
            self.unembed_bias = prune.bias(model.unembed.bias)
            self.position_free = not config.causal and self._reads_no_position()

    def _reads_no_position(self) -> bool:
        """Whether nothing reads a column the position embedding writes: then (bidirectional)
        every position's logits are a function of its token and the sequence's token counts."""
        if self.pos is None:
            return True
        reads = [prune.read_columns(self.unembed, self.unembed.shape[1])]
        for attn, mlp in self.layers:
            if attn is not None:
                reads.append(prune.read_columns(attn.w, attn.read))
            if mlp is not None:
                reads.append(prune.read_columns(mlp.fc, mlp.read))
        positional = self.pos.ne(0).any(dim=0)
        return not any(bool(positional[cols].any()) for cols in reads)

    @property
    def device(self) -> torch.device:
        return self.tok.device

    @property
    def dtype(self) -> torch.dtype:
        return self.tok.dtype

    def to(self, device: torch.device | str) -> FastForward:
        """Move every weight to `device` (in place); returns self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        for attn, mlp in self.layers:
            for part in (attn, mlp, *(attn.heads if attn else [])):
                if part is None:
                    continue
                for name, value in vars(part).items():
                    if isinstance(value, torch.Tensor):
                        setattr(part, name, value.to(device))
        return self

    def widths(self) -> list[tuple[list[tuple[int, int]], int]]:
        """Per kept layer: each head's (q.k width, value width), and the MLP's kept units."""
        return [
            (
                [(h.q.stop - h.q.start, h.v.stop - h.v.start) for h in a.heads] if a else [],
                m.fc.shape[0] if m else 0,
            )
            for a, m in self.layers
        ]

    def __call__(
        self,
        idx: torch.Tensor,
        lengths: torch.Tensor | None = None,
        output: str = "logits",
        columns: slice | None = None,
    ) -> torch.Tensor:
        """Logits [B,T,d_out] (only `columns` of them if given) or the final residual [B,T,D]
        for right-padded ids [B,T]."""
        with self._running():
            return self._forward(idx, lengths, output, columns)

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        """Inference mode, float32 without TF32, and on a CPU this forward's threads with
        subnormals flushed (and malloc keeping freed memory, `keep_freed_memory`)."""
        cpu = self.device.type == "cpu"
        if cpu:
            keep_freed_memory()
        with (
            torch.inference_mode(),
            exact_fp32(),
            cpu_threads(self.threads if cpu else None),
            flush_denormals() if cpu else contextlib.nullcontext(),
        ):
            yield

    def _forward(
        self, idx: torch.Tensor, lengths: torch.Tensor | None, output: str, columns: slice | None
    ) -> torch.Tensor:
        B, T = idx.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds max_seq_len {self.config.max_seq_len}")
        # Token classes pay only where there are fewer tokens than positions.
        by_class = len(self.tok) < T
        if self.position_free and by_class and output == "logits":
            return self._forward_by_token(idx, lengths, columns)
        # The residual as [B*T, D]: two-dimensional GEMMs take their bias in the same call.
        x = F.embedding(idx, self.tok)
        if self.pos is not None:
            x += self.pos[:T]
        x = x.view(B * T, -1)
        bias = self._score_bias(lengths, B, T)
        counts = None
        if self.by_token and by_class:
            counts = bytoken.token_counts(
                idx, lengths, len(self.tok), self.dtype, self.config.causal
            )
        for attn, mlp in self.layers:
            if attn is not None:
                x[:, attn.write] += self._attend(attn, _read(x, attn.read), bias, counts, idx)
            if mlp is not None:
                self._mlp_into(mlp, x)
        if output == "residual":
            return x.view(B, T, -1)
        w, b = self.unembed, self.unembed_bias
        if columns is not None:
            w, b = w[columns], None if b is None else b[columns]
        return F.linear(x, w, b).view(B, T, -1)

    def _forward_by_token(
        self, idx: torch.Tensor, lengths: torch.Tensor | None, columns: slice | None
    ) -> torch.Tensor:
        """A position-free model runs once per vocabulary entry and sequence, not per token
        (`token_logits`); each position then gathers its token's logits."""
        logits = self._token_logits(idx, lengths, columns)
        B, T = idx.shape
        return logits.gather(1, idx[..., None].expand(B, T, logits.shape[-1]))

    def token_logits(
        self, idx: torch.Tensor, lengths: torch.Tensor | None = None, columns: slice | None = None
    ) -> torch.Tensor:
        """For a position-free model, the logits [B,V,d_out] (or `columns`) every position
        holding token c of sequence b has: row c of sequence b stands for those positions,
        and a key row counts as often as its token occurs (softmax over keys grouped by their
        identical vectors). V rows instead of T per sequence."""
        if not self.position_free:
            raise ValueError("token_logits needs a bidirectional model that reads no position")
        with self._running():
            return self._token_logits(idx, lengths, columns)

    def _token_logits(
        self, idx: torch.Tensor, lengths: torch.Tensor | None, columns: slice | None
    ) -> torch.Tensor:
        B = idx.shape[0]
        V, D = self.tok.shape
        n = bytoken.occurrences(idx, lengths, V, self.dtype)  # [B,1,V]
        x = self.tok.repeat(B, 1)  # [B*V, D]
        for attn, mlp in self.layers:
            if attn is not None:
                x[:, attn.write] += (
                    bytoken.attend_rows(attn, _read(x, attn.read), n, B, V)
                    if attn.heads
                    else _constant(attn)
                )
            if mlp is not None:
                self._mlp_into(mlp, x)
        w, b = self.unembed, self.unembed_bias
        if columns is not None:
            w, b = w[columns], None if b is None else b[columns]
        return F.linear(x, w, b).view(B, V, -1)

    def _score_bias(self, lengths: torch.Tensor | None, B: int, T: int) -> torch.Tensor | None:
        """Additive score mask [B or 1, T or 1, T]: -inf on padding keys and (causal) on later
        keys. Padding rows still see the first key, so no softmax row is empty."""
        bias = None
        if lengths is not None and bool((lengths < T).any()):
            keys = torch.arange(T, device=self.device)[None, :] >= lengths[:, None]  # [B,T]
            bias = torch.zeros(B, 1, T, dtype=self.dtype, device=self.device)
            bias.masked_fill_(keys[:, None, :], float("-inf"))
        if self.config.causal:
            later = torch.ones(T, T, dtype=torch.bool, device=self.device).triu(1)
            causal = torch.zeros(1, T, T, dtype=self.dtype, device=self.device)
            causal.masked_fill_(later[None], float("-inf"))
            bias = causal if bias is None else bias + causal
        return bias

    def _attend(
        self,
        a: prune.Attention,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        counts: tuple[torch.Tensor, torch.Tensor] | None,
        idx: torch.Tensor,
    ) -> torch.Tensor:
        B, T = idx.shape
        if not a.heads:
            return _constant(a)
        if a.tok_table is not None:  # it reads the embeddings alone
            y = F.embedding(idx, a.tok_table)  # [B,T,width]
            if a.pos_table is not None:
                y += a.pos_table[:T]
        else:
            y = F.linear(x, a.w, a.b).view(B, T, -1)
        outs = []
        for h in a.heads:
            if h.keys is not None and counts is not None:
                outs.append(bytoken.attend_by_token(h, a.scale, y, counts, self.config.causal))
                continue
            keys = y[..., h.k] if h.keys is None else F.embedding(idx, h.keys)
            scores = y[..., h.q] @ keys.transpose(1, 2)  # [B,T,T]
            if a.scale != 1.0:
                scores *= a.scale
            if bias is not None:
                scores += bias
            outs.append(scores.softmax(dim=-1) @ y[..., h.v])
        z = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        return F.linear(z.view(B * T, -1), a.o, a.o_bias)

    def _mlp_into(self, m: prune.Mlp, x: torch.Tensor) -> None:
        """x += the MLP's output; on a CPU in blocks of rows whose hidden activations stay in
        cache (MLP_HIDDEN numbers: hist@64's 129-unit MLP ran 2x faster in blocks)."""
        xr = _read(x, m.read)
        rows = len(x) if self.device.type != "cpu" else max(1, MLP_HIDDEN // max(1, len(m.fc)))
        for i in range(0, len(x), rows):
            x[i : i + rows, m.write] += self._mlp(m, xr[i : i + rows])

    @staticmethod
    def _mlp(m: prune.Mlp, x: torch.Tensor) -> torch.Tensor:
        h = F.linear(x, m.fc, m.fc_bias)
        h = F.gelu(h) if m.gelu else torch.relu_(h)
        return F.linear(h, m.proj, m.proj_bias)
