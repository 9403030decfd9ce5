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
from compiler import manifest as mf
from compiler.budget import Budget
from compiler.linear import BOS, ONE, Lin, is_identity, matmul
from compiler.manifest import D_BOS, D_ONE, jsonable
from compiler.plan import Embedded, Head, HeadSpec, Mlp, MlpSpec, PNode
from compiler.precision import FLOAT32, Precision
from compiler.readout import readout
from compiler.refs import ref_of
from runtime.model import MLP, Attention


@dataclass(eq=False)
class Stored:
    node: PNode
    slot: int  # -1 embedding; 2l attention of layer l; 2l+1 MLP of layer l
    proj: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # P: [k, encdim]
    pinv: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # its pseudo-inverse
    start: int = 0

    @property
    def dims(self) -> int:
        return self.proj.shape[0]


def _deps(p: PNode) -> list[Lin]:
    if isinstance(p, Mlp):
        return [p.mlp.z]
    if isinstance(p, Head):
        return [p.head.q, p.head.k, p.head.v]
    return []


def schedule(out: Lin) -> dict[PNode, Stored]:
    """Every stored node the output read-out needs, at the earliest sublayer its inputs
    allow."""
    stored: dict[PNode, Stored] = {}

    def visit(p: PNode) -> int:
        got = stored.get(p)
        if got is not None:
            return got.slot
        if isinstance(p, Embedded):
            slot = -1
        else:
            ready = max([visit(s) for lin in _deps(p) for s in lin.sources()], default=-1)
            parity = 0 if isinstance(p, Head) else 1
            slot = ready + 1 if (ready + 1) % 2 == parity else ready + 2
        stored[p] = Stored(p, slot)
        return slot

    for s in out.sources():
        visit(s)
    return stored


def _holds_units(rows: np.ndarray, dim: int) -> bool:
    """Whether every unit vector is one of `rows` and `matrix_rank` would say so too (its
    tolerance, largest singular value * rows * eps, is below 1, the least singular value
    then): a rank without an SVD of thousands of rows at max_len 512."""
    if rows.shape[0] < dim:
        return False
    units = (np.count_nonzero(rows, axis=1) == 1) & ((rows == 1.0).sum(axis=1) == 1)
    covered = np.zeros(dim, dtype=bool)
    covered[np.argmax(rows[units] == 1.0, axis=1)] = True
    eps = float(np.finfo(np.float64).eps)
    return bool(covered.all()) and float(np.linalg.norm(rows)) * max(rows.shape) * eps < 1.0


def _pinv(proj: np.ndarray) -> np.ndarray:
    """The pseudo-inverse (an identity's is itself, which numpy's SVD gives exactly too)."""
    return np.eye(proj.shape[0]) if is_identity(proj) else np.linalg.pinv(proj)


def _basis(rows: np.ndarray, dim: int) -> np.ndarray:
    """Independent rows spanning `rows` (the identity when they span everything)."""
    if rows.shape[0] == 0:
        return np.zeros((0, dim))
    if _holds_units(rows, dim) or np.linalg.matrix_rank(rows) == dim:
        return np.eye(dim)
    chosen: list[np.ndarray] = []
    ortho: list[np.ndarray] = []
    for r in rows:
        v = r.copy()
        for o in ortho:
            v -= (v @ o) * o
        if np.linalg.norm(v) > 1e-9 * max(1.0, float(np.linalg.norm(r))):
            chosen.append(r)
            ortho.append(v / np.linalg.norm(v))
    return np.array(chosen) if chosen else np.zeros((0, dim))


class Builder:
    """Places the plan's stored values (`schedule`, `_projections`, `_layout`), then writes
    the weights (`build`) and says what every dimension holds (`layout`)."""

    def __init__(
        self,
        root: PNode,
        vocab: list[Any],
        max_len: int,
        causal: bool,
        precision: Precision = FLOAT32,
        budget: Budget | None = None,
    ):
        self.root, self.vocab, self.n, self.causal = root, vocab, max_len, causal
        self.prec = precision  # the weights' float type
        self.budget = budget or Budget(None)  # placing and writing weights count too
        self.out_lin, self.output = readout(root, precision)
        self.stored = schedule(self.out_lin)
        self._projections()
        self._layout()

    def _projections(self) -> None:
        req: dict[PNode, list[np.ndarray]] = {}

        def need(lin: Lin) -> None:
            for s, m in lin.terms.items():
                if not isinstance(s, int):
                    req.setdefault(s, []).append(m)

        need(self.out_lin)
        placing = sorted(self.stored.values(), key=lambda s: -s.slot)
        for i, st in enumerate(placing):
            self.budget.tick("placing", i, len(placing))
            p = st.node
            rows = req.get(p, [])
            st.proj = _basis(np.vstack(rows) if rows else np.zeros((0, p.encdim)), p.encdim)
            st.pinv = _pinv(st.proj) if st.dims else np.zeros((p.encdim, 0))
            if isinstance(p, Mlp):
                need(p.mlp.z)
            elif isinstance(p, Head):
                need(p.head.q)
                need(p.head.k)
                need(p.head.v.left(st.proj))
        self.budget.tick("placing", len(placing), len(placing))

    def _layout(self) -> None:
        start = 2
        rank = {"tok": 0, "pos": 1}  # tokens, then positions, then sublayers in order
        order = sorted(
            self.stored.values(), key=lambda s: (s.slot, rank.get(s.node.kind, 2), s.node.id)
        )
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
                    w[:, st.start : st.start + st.dims] += matmul(m, st.pinv)
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

    def build(self) -> tuple[runtime.Transformer, list[mf.Layer]]:
        layers = []
        heads_of: list[list[Stored]] = [[] for _ in range(self.n_layers)]
        mlps_of: list[list[Stored]] = [[] for _ in range(self.n_layers)]
        for st in self.order:
            if st.slot >= 0:
                (heads_of if st.slot % 2 == 0 else mlps_of)[st.slot // 2].append(st)
        for layer in range(self.n_layers):
            heads = heads_of[layer]
            d_head = max([max(_head(st).q.rows + 1, st.dims) for st in heads], default=0)
            hidden = sum(_mlp(st).hidden for st in mlps_of[layer])
            layers.append(runtime.LayerConfig(len(heads), d_head if heads else 0, hidden))
        config = runtime.TransformerConfig(
            vocab_size=len(self.vocab) + 1,
            max_seq_len=self.n + 1,
            d_model=self.d_model,
            layers=layers,
            activation="relu",
            norm="none",
            causal=self.causal,
            attn_scale=1.0,
            bias=True,
            d_out=self.out_lin.rows,
            pos_embedding=True,
            attn_impl="math",
        )
        model = runtime.Transformer(config, init=False).to(getattr(torch, self.prec.name))
        self.budget.tick("weights", 0, self.n_layers)
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
            self._embeddings(model)
            for layer, block in enumerate(model.blocks):
                attn, mlp = block.attn, block.mlp  # None where the layer has no heads / MLP
                for h, st in enumerate(heads_of[layer]):
                    if not isinstance(attn, Attention):
                        raise TypeError(f"layer {layer} of the model has no attention")
                    self._head(attn, h, layers[layer].d_head, st)
                offset = 0
                for st in mlps_of[layer]:
                    if not isinstance(mlp, MLP):
                        raise TypeError(f"layer {layer} of the model has no MLP")
                    offset = self._mlp(mlp, offset, st)
                self.budget.tick("weights", layer + 1, self.n_layers)
            model.unembed.weight.copy_(torch.from_numpy(self.weight(self.out_lin)))
        return model, [
            mf.Layer(i, len(heads_of[i]), c.d_head, c.d_mlp) for i, c in enumerate(layers)
        ]

    def _embeddings(self, model: runtime.Transformer) -> None:
        tok = np.zeros((len(self.vocab) + 1, self.d_model))
        pos = np.zeros((self.n + 1, self.d_model))
        tok[:, D_ONE] = 1.0
        tok[len(self.vocab), D_BOS] = 1.0
        for st in self.order:
            if st.slot != -1 or not st.dims:
                continue
            p = st.node
            if not isinstance(p, Embedded):
                raise TypeError(f"`{p.label}` is in the embedding but is not embedded")
            rows = p.table @ st.proj.T  # [domain, dims]
            if p.kind == "tok":
                tok[: len(self.vocab), st.start : st.start + st.dims] = rows
            else:
                pos[1:, st.start : st.start + st.dims] = rows
        if model.pos_emb is None:
            raise TypeError("a compiled model has position embeddings")
        model.tok_emb.weight.copy_(torch.from_numpy(tok))
        model.pos_emb.weight.copy_(torch.from_numpy(pos))

    def _head(self, attn: Attention, h: int, d_head: int, st: Stored) -> None:
        spec = _head(st)
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
        if spec.bos_k is not None:  # mode 'none'
            want_k[:dq] = spec.bos_k
        wq = self.at_bos(wq, want_q)
        wk = self.at_bos(wk, want_k)
        wv = np.zeros((d_head, self.d_model))
        if st.dims:
            wv[: st.dims] = self.weight(spec.v.left(st.proj))
        wv = self.at_bos(wv, np.zeros(d_head))
        o = np.zeros((self.d_model, d_head))
        o[st.start : st.start + st.dims, : st.dims] = np.eye(st.dims)
        hw = attn.head(h)
        hw.q.copy_(torch.from_numpy(wq))
        hw.k.copy_(torch.from_numpy(wk))
        hw.v.copy_(torch.from_numpy(wv))
        hw.o.copy_(torch.from_numpy(o))

    def _mlp(self, mlp: MLP, offset: int, st: Stored) -> int:
        """A constant unit plus, per change of the output, a clamped ramp (two ReLUs) at the
        midpoint between the neighbouring input points. A ramp is exact (zero) on one side;
        each ramp faces the side with fewer points so that the inexact side (where its two
        ReLUs grow together) is short. The two ReLUs of a ramp share their weights and their
        float32 biases differ by exactly 1, so their difference is exactly 1 when saturated."""
        spec = _mlp(st)
        real = np.float64 if self.prec.name == "float64" else np.float32  # the biases' type
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
            bias = real(sign * -mid / half + 0.5)
            for b, out_sign in ((bias, 1.0), (real(bias - real(1.0)), -1.0)):
                rows.append((row.copy(), float(b)))
                cols.append(out_sign * sign * delta)
        fc = np.zeros((1 + len(rows), self.d_model), dtype=np.float64)
        fc[0, D_ONE] = 1.0
        for i, (r, _b) in enumerate(rows, start=1):
            fc[i] = r
        fc = self.at_bos(fc, -np.ones(len(fc)))
        biases = np.zeros(len(fc), dtype=real)
        for i, (_, value) in enumerate(rows, start=1):
            biases[i] = value
        # The ONE column must not carry the biases (a float64 sum would round them apart):
        # they go in the Linear's bias, and the BOS column cancels them at BOS.
        fc[:, D_BOS] -= biases.astype(np.float64)
        proj = np.zeros((self.d_model, len(fc)))
        proj[st.start : st.start + st.dims] = np.array([const, *cols]).T
        n = len(fc)
        mlp.fc.weight[offset : offset + n] = torch.from_numpy(fc)
        mlp.fc.bias[offset : offset + n] = torch.from_numpy(biases)
        mlp.proj.weight[:, offset : offset + n] = torch.from_numpy(proj)
        return offset + n

    def layout(self, index: dict[int, int]) -> tuple[mf.Value, ...]:
        """What every residual dimension holds; `index` gives the stable reference of each
        program node (`refs.walk_index` of the compiled expression)."""
        out: list[mf.Value] = [
            mf.One(label="one", encoding="numerical", dims=(D_ONE, D_ONE + 1), layer=-1),
            mf.BosFlag(label="bos", encoding="numerical", dims=(D_BOS, D_BOS + 1), layer=-1),
        ]
        for st in self.order:
            p = st.node
            common: dict[str, Any] = dict(
                label=p.label,
                encoding=p.enc,
                dims=(st.start, st.start + st.dims),
                layer=st.slot // 2 if st.slot >= 0 else -1,
                where=p.where(),
                text=_text(p),
                role=p.role,
                node=index.get(p.ir.id) if p.ir is not None and p.checks else None,
                proj=tuple(map(tuple, st.proj.tolist())),
                base=tuple(p.base.tolist()) if p.base is not None else (),
                values=jsonable(p.values) if p.enc == "categorical" else None,
            )
            if isinstance(p, Embedded):
                embedding = mf.TokenValue if p.kind == "tok" else mf.PositionValue
                out.append(embedding(**common))
            elif isinstance(p, Head):
                sel = p.head.selector
                out.append(
                    mf.HeadValue(
                        selector=sel.label if sel is not None else "",
                        d_qk=p.head.q.rows + 1,
                        selector_ref=ref_of(sel, index) if sel is not None else None,
                        **common,
                    )
                )
            elif isinstance(p, Mlp):
                out.append(mf.MlpValue(hidden=p.mlp.hidden, **common))
            else:
                raise TypeError(f"`{p.label}` ({type(p).__name__}) is not a stored value")
        return tuple(out)


def _head(st: Stored) -> HeadSpec:
    if not isinstance(st.node, Head):
        raise TypeError(f"`{st.node.label}` sits in an attention sublayer but is no head")
    return st.node.head


def _mlp(st: Stored) -> MlpSpec:
    if not isinstance(st.node, Mlp):
        raise TypeError(f"`{st.node.label}` sits in an MLP sublayer but is no MLP")
    return st.node.mlp


def _text(p: PNode) -> str:
    if p.ir is None or p.ir.span is None or not p.ir.span.text:
        return ""
    return p.ir.span.text.splitlines()[0]
