"""Stages 4-5: scheduling, residual layout and weights for `runtime.Transformer`.

Blocks are placed as early as their inputs allow (attention and MLP sublayers alternate), so
the layer count is the dependency depth; blocks of one sublayer sit side by side as heads or
MLP slices. Each stored value gets only as many residual dimensions as the rank of what its
readers read from it. Position 0 holds BOS; the residual has a constant-1 dimension (ONE) and
a BOS-indicator dimension (BOS), which every reader uses to make BOS behave as designed: BOS
queries attend only to BOS, BOS contributes 0 to every head, and every MLP unit is off at BOS.
So the BOS residual never changes and every stored value is exactly zero there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import runtime

from .errors import CompileError
from .linear import BOS, ONE, Lin
from .plan import PNode, err_of
from .values import is_numeric_like

D_ONE, D_BOS = 0, 1


@dataclass
class Stored:
    node: PNode
    slot: int  # -1 embedding; 2l attention of layer l; 2l+1 MLP of layer l
    proj: np.ndarray | None = None  # P: [k, encdim]
    start: int = 0

    @property
    def dims(self) -> int:
        return 0 if self.proj is None else self.proj.shape[0]


@dataclass
class Assembly:
    model: runtime.Transformer
    manifest: dict[str, Any]
    stored: list[Stored] = field(default_factory=list)


def _deps(p: PNode) -> list[Lin]:
    if p.kind == "mlp":
        return [p.mlp.z]
    if p.kind == "head":
        return [p.head.q, p.head.k, p.head.v]
    return []


def _out_lin(root: PNode) -> Lin:
    if root.enc == "cat":
        return root.lin if root.kind == "linear" else Lin.of(root, root.encdim)
    return root.lin if root.kind == "linear" else Lin.of(root, 1)


def schedule(root: PNode) -> dict[int, Stored]:
    """Every stored node the output needs, at the earliest sublayer its inputs allow."""
    stored: dict[int, Stored] = {}

    def visit(pid: int) -> int:
        got = stored.get(pid)
        if got is not None:
            return got.slot
        p = pid
        if p.kind in ("tok", "pos"):
            slot = -1
        else:
            ready = max([visit(s) for lin in _deps(p) for s in lin.sources()], default=-1)
            parity = 0 if p.kind == "head" else 1
            slot = ready + 1 if (ready + 1) % 2 == parity else ready + 2
        stored[pid] = Stored(p, slot)
        return slot

    for s in output_readout(root)[0].sources():
        visit(s)
    return stored


def _basis(rows: np.ndarray, dim: int) -> np.ndarray:
    """Independent rows spanning `rows` (the identity when they span everything)."""
    if rows.shape[0] == 0:
        return np.zeros((0, dim))
    if np.linalg.matrix_rank(rows) == dim:
        return np.eye(dim)
    chosen: list[np.ndarray] = []
    ortho: list[np.ndarray] = []
    for r in rows:
        v = r.copy()
        for o in ortho:
            v -= (v @ o) * o
        if np.linalg.norm(v) > 1e-9 * max(1.0, np.linalg.norm(r)):
            chosen.append(r)
            ortho.append(v / np.linalg.norm(v))
    return np.array(chosen) if chosen else np.zeros((0, dim))


class Builder:
    def __init__(self, root: PNode, vocab: list[Any], max_len: int, causal: bool):
        self.root, self.vocab, self.n, self.causal = root, vocab, max_len, causal
        self.out_lin, self.codec = output_readout(root)
        _check_output_error(root, self.out_lin, self.codec)
        self.stored = schedule(root)
        self._projections()
        self._layout()

    def _projections(self) -> None:
        req: dict[int, list[np.ndarray]] = {}

        def need(lin: Lin) -> None:
            for s, m in lin.terms.items():
                if not isinstance(s, int):
                    req.setdefault(s, []).append(m)

        need(self.out_lin)
        for st in sorted(self.stored.values(), key=lambda s: -s.slot):
            p = st.node
            rows = req.get(p, [])
            st.proj = _basis(np.vstack(rows) if rows else np.zeros((0, p.encdim)), p.encdim)
            st.pinv = np.linalg.pinv(st.proj) if st.dims else np.zeros((p.encdim, 0))
            if p.kind == "mlp":
                need(p.mlp.z)
            elif p.kind == "head":
                need(p.head.q)
                need(p.head.k)
                need(p.head.v.left(st.proj))

    def _layout(self) -> None:
        start = 2
        rank = {"tok": 0, "pos": 1}  # tokens, then positions, then sublayers in order
        order = sorted(self.stored.values(),
                       key=lambda s: (s.slot, rank.get(s.node.kind, 2), s.node.id))
        for st in order:
            st.start = start
            start += st.dims
        self.order = order
        self.d_model = start
        self.n_layers = max([s.slot // 2 + 1 for s in order if s.slot >= 0], default=0)

    # ---- read-outs in residual coordinates -------------------------------------------------

    def weight(self, lin: Lin) -> np.ndarray:
        """W [rows, d_model] with W @ residual = the read-out (before BOS correction)."""
        w = np.zeros((lin.rows, self.d_model))
        for s, m in lin.terms.items():
            if s == ONE:
                w[:, D_ONE] += m[:, 0]
            elif s == BOS:
                w[:, D_BOS] += m[:, 0]
            else:
                st = self.stored[s]
                p = st.node
                if st.dims:
                    w[:, st.start:st.start + st.dims] += m @ st.pinv
                w[:, D_ONE] += m @ p.base
        return w

    @staticmethod
    def at_bos(w: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Set the BOS column so that the read-out at BOS (ONE=BOS=1, all else 0) is desired."""
        w = w.copy()
        w[:, D_BOS] = 0.0
        w[:, D_BOS] = desired - (w[:, D_ONE])
        return w

    # ---- weights --------------------------------------------------------------------------

    def build(self) -> tuple[runtime.Transformer, list[dict[str, Any]]]:
        layers = []
        heads_of: list[list[Stored]] = [[] for _ in range(self.n_layers)]
        mlps_of: list[list[Stored]] = [[] for _ in range(self.n_layers)]
        for st in self.order:
            if st.slot >= 0:
                (heads_of if st.slot % 2 == 0 else mlps_of)[st.slot // 2].append(st)
        for layer in range(self.n_layers):
            heads = heads_of[layer]
            d_head = max([max(st.node.head.q.rows + 1, st.dims) for st in heads], default=0)
            hidden = sum(st.node.mlp.hidden for st in mlps_of[layer])
            layers.append(runtime.LayerConfig(len(heads), d_head if heads else 0, hidden))
        config = runtime.TransformerConfig(
            vocab_size=len(self.vocab) + 1, max_seq_len=self.n + 1, d_model=self.d_model,
            layers=layers, activation="relu", norm="none", causal=self.causal, attn_scale=1.0,
            bias=True, d_out=self._out_rows(), pos_embedding=True, attn_impl="math")
        model = runtime.Transformer(config)
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
            self._embeddings(model)
            plan = []
            for layer in range(self.n_layers):
                blocks = []
                for h, st in enumerate(heads_of[layer]):
                    self._head(model.blocks[layer].attn, h, layers[layer].d_head, st)
                    blocks.append(self._describe(st, layer, "attention"))
                offset = 0
                for st in mlps_of[layer]:
                    offset = self._mlp(model.blocks[layer].mlp, offset, st)
                    blocks.append(self._describe(st, layer, "mlp"))
                plan.append({"layer": layer, "heads": len(heads_of[layer]),
                             "d_head": layers[layer].d_head, "mlp_hidden": layers[layer].d_mlp,
                             "blocks": blocks})
            model.unembed.weight.copy_(torch.from_numpy(self.weight(self.out_lin)))
        return model, plan

    def _out_rows(self) -> int:
        return self.out_lin.rows

    def _embeddings(self, model: runtime.Transformer) -> None:
        tok = np.zeros((len(self.vocab) + 1, self.d_model))
        pos = np.zeros((self.n + 1, self.d_model))
        tok[:, D_ONE] = 1.0
        tok[len(self.vocab), D_BOS] = 1.0
        for st in self.order:
            if st.slot != -1 or not st.dims:
                continue
            p = st.node
            rows = p.table @ st.proj.T  # [domain, dims]
            if p.kind == "tok":
                tok[:len(self.vocab), st.start:st.start + st.dims] = rows
            else:
                pos[1:, st.start:st.start + st.dims] = rows
        model.tok_emb.weight.copy_(torch.from_numpy(tok))
        model.pos_emb.weight.copy_(torch.from_numpy(pos))

    def _head(self, attn, h: int, d_head: int, st: Stored) -> None:
        spec = st.node.head
        beta = spec.beta(self.n)
        dq = spec.q.rows
        offset = {"half": spec.threshold - 0.5, "equal": spec.threshold, "none": 0.0}[spec.bos]
        wq = np.zeros((d_head, self.d_model))
        wk = np.zeros((d_head, self.d_model))
        wq[:dq] = beta * self.weight(spec.q)
        wq[dq, D_ONE] = beta * offset
        wk[:dq] = self.weight(spec.k)
        want_q = np.zeros(d_head)
        want_q[dq] = beta * 4.0
        want_k = np.zeros(d_head)
        want_k[dq] = 1.0
        if spec.bos == "none":
            want_k[:dq] = spec.bos_k
        wq = self.at_bos(wq, want_q)
        wk = self.at_bos(wk, want_k)
        wv = np.zeros((d_head, self.d_model))
        if st.dims:
            wv[:st.dims] = self.weight(spec.v.left(st.proj))
        wv = self.at_bos(wv, np.zeros(d_head))
        o = np.zeros((self.d_model, d_head))
        o[st.start:st.start + st.dims, :st.dims] = np.eye(st.dims)
        hw = attn.head(h)
        hw.q.copy_(torch.from_numpy(wq))
        hw.k.copy_(torch.from_numpy(wk))
        hw.v.copy_(torch.from_numpy(wv))
        hw.o.copy_(torch.from_numpy(o))

    def _mlp(self, mlp, offset: int, st: Stored) -> int:
        """A constant unit plus, per change of the output, a clamped ramp (two ReLUs) at the
        midpoint between the neighbouring input points. A ramp is exact (zero) on one side;
        each ramp faces the side with fewer points so that the inexact side (where its two
        ReLUs grow together) is short. The two ReLUs of a ramp share their weights and their
        float32 biases differ by exactly 1, so their difference is exactly 1 when saturated."""
        spec = st.node.mlp
        wz = self.weight(spec.z)[0]
        pts, outs = spec.points, spec.outs @ st.proj.T  # outs: [points, dims]
        lo, hi = float(pts[0]), float(pts[-1])
        rows, cols = [], []
        const = outs[0].copy()
        for j in spec.changes():
            mid = (pts[j - 1] + pts[j]) / 2
            half = (pts[j] - pts[j - 1]) / 2
            delta = outs[j] - outs[j - 1]
            up = (hi - mid) <= (mid - lo)  # ascending ramp: inexact above mid
            sign = 1.0 if up else -1.0
            if not up:  # f = f0 + delta * (1 - down): the 1 goes into the constant
                const += delta
            row = sign * wz / half
            bias = np.float32(sign * -mid / half + 0.5)
            for b, out_sign in ((bias, 1.0), (np.float32(bias - np.float32(1.0)), -1.0)):
                rows.append((row.copy(), float(b)))
                cols.append(out_sign * sign * delta)
        fc = np.zeros((1 + len(rows), self.d_model), dtype=np.float64)
        fc[0, D_ONE] = 1.0
        for i, (r, _b) in enumerate(rows, start=1):
            fc[i] = r
        fc = self.at_bos(fc, -np.ones(len(fc)))
        bias = np.zeros(len(fc), dtype=np.float32)
        for i, (_, b) in enumerate(rows, start=1):
            bias[i] = b
        # The ONE column must not carry the biases (a float64 sum would round them apart):
        # they go in the Linear's bias, and the BOS column cancels them at BOS.
        fc[:, D_BOS] -= bias.astype(np.float64)
        proj = np.zeros((self.d_model, len(fc)))
        proj[st.start:st.start + st.dims] = np.array([const, *cols]).T
        n = len(fc)
        mlp.fc.weight[offset:offset + n] = torch.from_numpy(fc)
        mlp.fc.bias[offset:offset + n] = torch.from_numpy(bias)
        mlp.proj.weight[:, offset:offset + n] = torch.from_numpy(proj)
        return offset + n

    def _describe(self, st: Stored, layer: int, sublayer: str) -> dict[str, Any]:
        p = st.node
        d: dict[str, Any] = {"node": p.label, "where": p.where(), "role": p.role,
                             "dims": [st.start, st.start + st.dims]}
        if sublayer == "attention":
            sel = p.head.selector
            d["selector"] = sel.label if sel is not None else ""
            d["d_qk"] = p.head.q.rows + 1
        else:
            d["hidden"] = p.mlp.hidden
        return d

    def layout(self) -> list[dict[str, Any]]:
        out = [{"node": "one", "kind": "constant", "dims": [D_ONE, D_ONE + 1]},
               {"node": "bos", "kind": "bos", "dims": [D_BOS, D_BOS + 1]}]
        for st in self.order:
            p = st.node
            entry: dict[str, Any] = {
                "node": p.label, "id": p.id, "kind": p.kind, "encoding": p.enc,
                "dims": [st.start, st.start + st.dims], "layer": st.slot // 2 if st.slot >= 0
                else -1, "sublayer": "embedding" if st.slot < 0 else
                ("attention" if st.slot % 2 == 0 else "mlp"),
                "where": p.where(), "text": _text(p), "role": p.role,
                "ir": p.ir.id if p.ir is not None and p.checks else None,
                "proj": st.proj.tolist(), "base": p.base.tolist(),
                "values": _jsonable(p.values) if p.enc == "cat" else None,
            }
            out.append(entry)
        return out


def _text(p: PNode) -> str:
    if p.ir is None or p.ir.span is None or not p.ir.span.text:
        return ""
    return p.ir.span.text.splitlines()[0]


def _jsonable(values):
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, tuple):
            out.append(list(v))
        elif isinstance(v, int | float | str | bool) or v is None:
            out.append(v)
        else:
            out.append(repr(v))
    return out


def _check_output_error(root: PNode, lin: Lin, codec: dict[str, Any]) -> None:
    """The output must decode to the right value despite float32 error: argmax needs the
    one-hot within 0.3; numbers need the error well below half the gap to the next value."""
    err = err_of(lin)
    if codec["encoding"] == "categorical":
        limit = 0.3
    else:
        vals = np.unique([float(v) for v in codec["values"] or []])
        if len(vals) > 1:
            limit = 0.45 * float(np.diff(vals).min())  # snapping to the nearest value
        else:  # unknown values: verify compares numbers to 1e-5 of their size
            scale = root.head.vmax if root.kind == "head" else 1.0
            limit = 1e-5 * max(1.0, scale)
    if err > limit:
        raise CompileError(f"its float32 error (up to {err:.2g}) could change the decoded "
                           f"output (values {limit / 0.45:.2g} apart)", root.ir)


def output_readout(root: PNode) -> tuple[Lin, dict[str, Any]]:
    """The unembedding's read-out and how to decode it: categorical outputs by argmax over
    their one-hot; numbers (and one-hots of numbers that differ as floats) by value."""
    lin = _out_lin(root)
    vals = root.values
    if root.enc == "num":
        if vals is not None and not all(is_numeric_like(v) for v in vals):
            raise CompileError("a numeric output with non-numeric values", root.ir)
        return lin, {"encoding": "numerical", "values": _jsonable(vals)}
    numeric = all(is_numeric_like(v) for v in vals) and len({float(v) for v in vals}) == len(vals)
    if numeric and len(vals) > 1:
        return lin.left(np.array([[float(v) for v in vals]])), {
            "encoding": "numerical", "values": _jsonable(vals)}
    return lin, {"encoding": "categorical", "values": _jsonable(vals)}
