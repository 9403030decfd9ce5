"""Sweeps: a Ray sweep equals the same sweep run serially; seeds share a sweep directory."""

import json
from dataclasses import replace

import pytest

from lm import sweep as sweep_mod
from lm.config import TrainConfig
from lm.sweep import SweepConfig, parse_size, read_results, sweep

BASE = TrainConfig(
    program="examples/reverse.rasp",
    max_len=4,
    n_examples=200,
    tokens=2000,
    batch_size=16,
    progress=False,
)
COMPARED = ("val_output_nll", "test_output_nll", "exact_match", "final_train_loss", "tokens")


def _config(out, **kw) -> SweepConfig:
    return SweepConfig(
        base=BASE,
        sizes=[parse_size("1x8x1"), parse_size("1x16x2")],
        token_budgets=[2000],
        seeds=[0, 1],
        out_dir=str(out),
        **kw,
    )


def test_ray_sweep_equals_the_serial_sweep(tmp_path):
    pytest.importorskip("ray")
    serial = {r["key"]: r for r in sweep(_config(tmp_path / "serial", jobs=1), log=lambda _: None)}
    ray_rows = sweep(_config(tmp_path / "ray", jobs=2), log=lambda _: None)
    assert len(ray_rows) == len(serial) == 4
    for row in ray_rows:
        want = serial[row["key"]]
        for key in COMPARED:
            assert row[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (row["key"], key)
    lines = (tmp_path / "ray" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["key"] for x in lines) == sorted(serial)  # one whole line each


def test_a_second_seed_shares_the_sweep_directory(tmp_path, monkeypatch):
    first = _config(tmp_path, jobs=1)
    first.seeds = [0]
    sweep(first, log=lambda _: None)
    trained = []
    real = sweep_mod.run_one
    monkeypatch.setattr(sweep_mod, "run_one", lambda k, c: trained.append(k) or real(k, c))
    rows = sweep(_config(tmp_path, jobs=1), log=lambda _: None)
    assert len(rows) == 4 and sorted(trained) == sorted(
        k for k in (r["key"] for r in rows) if "_s1" in k
    )
    # Other data settings in the same directory are refused.
    other = _config(tmp_path, jobs=1)
    other.base = replace(BASE, max_len=5)
    with pytest.raises(ValueError, match="other settings"):
        sweep(other, log=lambda _: None)


def test_a_torn_results_line_is_ignored(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"key": "a", "x": 1}\n{"key": "b", "x"')
    assert list(read_results(path)) == ["a"]


def test_a_cluster_refusing_the_driver_says_how_to_authenticate(monkeypatch):
    """`ray start` turns token authentication on; a driver without RAY_AUTH_MODE=token got
    only Ray's 'Failed to connect' (seen against a real `ray start --head`)."""
    import ray

    from lm.sweep import start_ray

    def refuse(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:6390")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(ConnectionError, match="set RAY_AUTH_MODE=token here"):
        start_ray(1, "127.0.0.1:6390")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    with pytest.raises(ConnectionError, match="^Failed to connect to Ray cluster at [0-9.:]+$"):
        start_ray(1, "127.0.0.1:6390")
