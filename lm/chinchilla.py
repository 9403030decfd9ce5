"""Chinchilla scaling law: fit `L(N, D) = E + A/N^alpha + B/D^beta` and its compute optimum.

The fit follows Hoffmann et al. (2022, approach 3): parameters `(a, b, e, alpha, beta)` with
`A = exp(a)`, `B = exp(b)`, `E = exp(e)`; the predicted log loss is the log-sum-exp
`LSE(a - alpha log N, b - beta log D, e)`; the objective is the Huber loss (delta = 1e-3) of
predicted minus observed log loss; L-BFGS runs from a grid of initialisations and the best
minimum wins.

Speed matters because the grid has 4,500 starts: a loop of scipy calls takes minutes. Here one
batched L-BFGS (`lm.lbfgs`: all starts advancing together as `[starts, 5]` arrays) runs
with the exact analytic gradients below, computed in cache-sized blocks on a pool of threads.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from lm.lbfgs import batched_lbfgs

HUBER_DELTA = 1e-3
_BLOCK_ELEMENTS = 256 * 300  # [rows, runs] elements per block of the objective

#: Hoffmann et al.'s grid of initialisations: 5 * 5 * 5 * 6 * 6 = 4,500 starts.
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
}


@dataclass(frozen=True)
class ChinchillaFit:
    """Fitted constants of `L(N, D) = E + A/N^alpha + B/D^beta` and the derived optimum."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float = float("nan")
    n_runs: int = 0
    n_starts: int = 0
    iterations: int = 0
    fixed_E: bool = False  # E held at 0 rather than fitted

    @property
    def theta(self) -> np.ndarray:
        """`(a, b, e, alpha, beta)`, the fitted parametrisation."""
        e = _E_ZERO if self.E <= 0 else np.log(self.E)
        return np.array([np.log(self.A), np.log(self.B), e, self.alpha, self.beta])

    def predict(self, N, D):
        """Predicted loss for `N` parameters trained on `D` tokens (arrays broadcast)."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @property
    def G(self) -> float:
        """`(alpha A / (beta B))^(1 / (alpha + beta))`, the scale of the optimal allocation
        (NaN when an exponent is not positive: then no finite optimum exists)."""
        if not (self.alpha > 0 and self.beta > 0):
            return float("nan")
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        """Exponent of `N_opt` in `C`: `beta / (alpha + beta)`."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of `D_opt` in `C`: `alpha / (alpha + beta)`."""
        return self.alpha / (self.alpha + self.beta)

    def optimal(self, C):
        """Compute-optimal `(N_opt, D_opt)` for a budget `C ~= 6 N D` FLOPs."""
        C = np.asarray(C, dtype=float)
        n_opt = self.G * (C / 6.0) ** self.a
        d_opt = (C / 6.0) ** self.b / self.G
        if n_opt.ndim == 0:
            return float(n_opt), float(d_opt)
        return n_opt, d_opt

    def as_dict(self) -> dict:
        return {
            "E": self.E,
            "A": self.A,
            "B": self.B,
            "alpha": self.alpha,
            "beta": self.beta,
            "objective": self.objective,
            "n_runs": self.n_runs,
            "n_starts": self.n_starts,
            "fixed_E": self.fixed_E,
        }


def _objective_block(
    theta: torch.Tensor,
    log_n: torch.Tensor,
    log_d: torch.Tensor,
    log_l: torch.Tensor,
    delta: float,
    w: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean Huber loss and its exact gradient for a block of starts `theta` `[rows, 5]`;
    `w` `[rows, runs]` weighs each run per row (a bootstrap resample's counts)."""
    n_runs = log_n.shape[0]
    a, b, e, al, be = theta.T.unsqueeze(-1)
    t1 = a - al * log_n  # [rows, runs]
    t2 = b - be * log_d
    m = torch.maximum(torch.maximum(t1, t2), e)
    w1 = torch.exp(t1 - m)
    w2 = torch.exp(t2 - m)
    w3 = torch.exp(e - m)
    s = w1 + w2 + w3
    r = m + torch.log(s) - log_l
    absr = r.abs()
    huber = torch.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta))
    # d huber / d r, divided by s so that psi * w_k chains through softmax weight k.
    psi = r.clamp(-delta, delta) / (s * n_runs)
    if w is not None:
        huber, psi = huber * w, psi * w
    f = huber.sum(dim=1) / n_runs
    p1 = psi * w1
    p2 = psi * w2
    grad = torch.stack(
        (p1.sum(dim=1), p2.sum(dim=1), (psi * w3).sum(dim=1), -(p1 @ log_n), -(p2 @ log_d)), dim=1
    )
    return f, grad


def _objective(
    theta: np.ndarray,
    log_n: torch.Tensor,
    log_d: torch.Tensor,
    log_l: torch.Tensor,
    delta: float,
    pool: ThreadPoolExecutor,
    weights: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean Huber loss per start and its exact gradient; `theta` is `[S, 5]` (`weights`,
    when given, `[S, runs]`).

    Blocks of rows small enough for the `[rows, runs]` temporaries to stay in cache go to a
    pool of threads (torch releases the GIL), each op single-threaded: on a busy machine this
    is many times faster than torch's own intra-op threads, which spin waiting for each other.
    """
    rows = max(1, _BLOCK_ELEMENTS // log_n.shape[0])
    th = torch.from_numpy(theta)
    blocks = [
        (th[i : i + rows], None if weights is None else weights[i : i + rows])
        for i in range(0, theta.shape[0], rows)
    ]
    parts = list(
        pool.map(lambda blk: _objective_block(blk[0], log_n, log_d, log_l, delta, blk[1]), blocks)
    )
    f = torch.cat([p[0] for p in parts]).numpy()
    grad = torch.cat([p[1] for p in parts]).numpy()
    return f, grad


def init_grid(grid: dict[str, tuple[float, ...]] | None = None) -> np.ndarray:
    """Every combination of the initial values, as rows `(a, b, e, alpha, beta)`."""
    grid = DEFAULT_GRID if grid is None else grid
    rows = itertools.product(grid["a"], grid["b"], grid["e"], grid["alpha"], grid["beta"])
    return np.array(list(rows), dtype=float)


#: `e` when the floor is fixed at 0: exp(-60) ~ 1e-26, far below any loss float64 resolves.
_E_ZERO = -60.0


def check_runs(N, D, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs as float arrays; `ValueError` unless five or more, all positive."""
    N, D, loss = (np.asarray(v, dtype=float).ravel() for v in (N, D, loss))
    if not (N.shape == D.shape == loss.shape):
        raise ValueError("N, D and loss must have the same length")
    if N.size < 5:
        raise ValueError(f"need at least 5 runs to fit 5 constants, got {N.size}")
    if (N <= 0).any() or (D <= 0).any() or (loss <= 0).any():
        raise ValueError("N, D and loss must all be positive")
    return N, D, loss


def minimise(
    N,
    D,
    loss,
    starts: np.ndarray,
    delta: float,
    max_iter: int,
    fix_E0: bool,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Batched L-BFGS from every row of `starts`; with `fix_E0` the `e` column is held
    at `_E_ZERO` (its gradient is zeroed, so no step ever moves it)."""
    log_n, log_d, log_l = (torch.from_numpy(np.log(v)) for v in (N, D, loss))
    starts = np.array(starts, dtype=float)
    mask = np.ones(5)
    if fix_E0:
        starts[:, 2] = _E_ZERO
        mask[2] = 0.0
    w_all = None if weights is None else torch.from_numpy(np.asarray(weights, dtype=float))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:

            def fun(th: np.ndarray, idx: np.ndarray):
                w = None if w_all is None else w_all[idx]
                f, g = _objective(th, log_n, log_d, log_l, delta, pool, w)
                return f, g * mask

            with np.errstate(over="ignore", invalid="ignore"):  # diverging starts drop out
                x, f, iterations = batched_lbfgs(starts, fun, max_iter=max_iter)
    finally:
        torch.set_num_threads(threads)
    return x, np.where(np.isfinite(f), f, np.inf), iterations


def _from_theta(
    theta, objective: float, n_runs: int, n_starts: int, iterations: int, fix_E0: bool
) -> ChinchillaFit:
    a, b, e, alpha, beta = theta
    return ChinchillaFit(
        E=0.0 if fix_E0 else float(np.exp(e)),
        A=float(np.exp(a)),
        B=float(np.exp(b)),
        alpha=float(alpha),
        beta=float(beta),
        objective=float(objective),
        n_runs=n_runs,
        n_starts=n_starts,
        iterations=iterations,
        fixed_E=fix_E0,
    )


def fit(
    N,
    D,
    loss,
    *,
    delta: float = HUBER_DELTA,
    grid: dict[str, tuple[float, ...]] | None = None,
    max_iter: int = 500,
    fix_E0: bool = False,
) -> ChinchillaFit:
    """Fit `L(N, D) = E + A/N^alpha + B/D^beta` to runs with `N` parameters, `D` tokens.

    `fix_E0` fits `E = 0`: a deterministic program's outputs have entropy 0, and a free
    `E` can absorb the curvature of a learning transition instead. Raises `ValueError`
    for fewer than five runs or non-positive values, since the law has five constants and
    lives on logarithms.
    """
    N, D, loss = check_runs(N, D, loss)
    starts = init_grid(grid)
    if fix_E0:
        starts = np.unique(np.where(np.arange(5) == 2, _E_ZERO, starts), axis=0)
    x, f, iterations = minimise(N, D, loss, starts, delta, max_iter, fix_E0)
    best = int(np.argmin(f))
    return _from_theta(x[best], f[best], int(N.size), int(starts.shape[0]), iterations, fix_E0)


def training_flops(
    *,
    n_layers: int,
    d_model: int,
    n_heads: int,
    d_head: int,
    d_mlp: int,
    vocab_size: int,
    seq_len: int,
) -> float:
    """Exact training FLOPs per sequence, counted as in Hoffmann et al. (2022), appendix F.

    Forward: embeddings, per layer the QKV projections, logits `QK^T`, softmax, the weighted
    sum and output projection, the MLP, then the unembedding; backward is twice the forward.
    `6 N D` leaves out the attention terms that grow with `seq_len`, which are a large share
    for the small models trained on RASP programs.
    """
    attn = n_heads * d_head
    embed = 2 * seq_len * vocab_size * d_model
    per_layer = (
        2 * 3 * seq_len * d_model * attn  # Q, K, V projections
        + 2 * seq_len * seq_len * attn  # QK^T
        + 3 * n_heads * seq_len * seq_len  # softmax
        + 2 * seq_len * seq_len * attn  # weights @ V
        + 2 * seq_len * attn * d_model  # output projection
        + 2 * seq_len * 2 * d_model * d_mlp  # MLP, two GEMMs
    )
    logits = 2 * seq_len * d_model * vocab_size
    return 3.0 * (embed + n_layers * per_layer + logits)
