"""The Chinchilla fitter recovers known laws, and its closed forms match Hoffmann et al."""

import numpy as np
import pytest

from lm import chinchilla
from lm.chinchilla import ChinchillaFit

# Hoffmann et al. (2022), approach 3, unrounded.
HOFFMANN = ChinchillaFit(E=1.6934, A=406.4, B=410.7, alpha=0.33917, beta=0.28491)
GOPHER_FLOPS = 5.76e23


def _synthetic_runs(law: ChinchillaFit, n_runs: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e4), np.log(1e9), n_runs))
    D = np.exp(rng.uniform(np.log(1e6), np.log(1e11), n_runs))
    loss = law.predict(N, D) * np.exp(rng.normal(0.0, noise, n_runs))
    return N, D, loss


def test_closed_forms_reproduce_gopher_budget():
    n_opt, d_opt = HOFFMANN.optimal(GOPHER_FLOPS)
    assert n_opt == pytest.approx(40e9, rel=0.03)  # "about 40B parameters"
    assert 6 * n_opt * d_opt == pytest.approx(GOPHER_FLOPS, rel=1e-9)
    assert HOFFMANN.a == pytest.approx(0.46, abs=0.005)  # published a = 0.46, b = 0.54
    assert HOFFMANN.b == pytest.approx(0.54, abs=0.005)


def test_optimum_minimises_predicted_loss_on_the_isoflop_line():
    C = 1e18
    n_opt, _ = HOFFMANN.optimal(C)
    N = n_opt * np.exp(np.linspace(-2, 2, 401))
    losses = HOFFMANN.predict(N, C / (6 * N))
    assert N[np.argmin(losses)] == pytest.approx(n_opt, rel=0.02)


def test_fit_recovers_known_constants_from_noisy_runs():
    law = ChinchillaFit(E=1.2, A=300.0, B=900.0, alpha=0.36, beta=0.3)
    N, D, loss = _synthetic_runs(law, n_runs=120, noise=0.003)
    got = chinchilla.fit(N, D, loss)
    assert got.n_starts == 4500
    assert got.alpha == pytest.approx(law.alpha, abs=0.02)
    assert got.beta == pytest.approx(law.beta, abs=0.02)
    assert got.E == pytest.approx(law.E, rel=0.03)
    rel_err = np.abs(got.predict(N, D) / law.predict(N, D) - 1)
    assert rel_err.max() < 0.01
    n_true, _ = law.optimal(1e20)
    n_got, _ = got.optimal(1e20)
    assert n_got == pytest.approx(n_true, rel=0.25)


def test_fit_is_robust_to_an_outlier_run():
    N, D, loss = _synthetic_runs(HOFFMANN, n_runs=80, noise=0.002, seed=1)
    loss[0] *= 3.0  # a diverged run
    grid = {**chinchilla.DEFAULT_GRID, "a": (0.0, 10.0), "b": (0.0, 10.0)}
    got = chinchilla.fit(N, D, loss, grid=grid)
    assert got.alpha == pytest.approx(HOFFMANN.alpha, abs=0.03)
    assert got.beta == pytest.approx(HOFFMANN.beta, abs=0.03)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 5"):
        chinchilla.fit([1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="positive"):
        chinchilla.fit([1, 2, 3, 4, -5], [1] * 5, [1] * 5)


def test_exact_flops_exceed_six_nd_by_the_attention_terms():
    kw = dict(n_layers=2, d_model=64, n_heads=4, d_head=16, d_mlp=256, vocab_size=16)
    n_params = 2 * (4 * 64 * 64 + 2 * 64 * 256)
    short = chinchilla.training_flops(seq_len=8, **kw) / 8
    long = chinchilla.training_flops(seq_len=512, **kw) / 512
    assert short == pytest.approx(6 * n_params, rel=0.15)
    assert long > 1.5 * 6 * n_params  # attention's share grows with context
