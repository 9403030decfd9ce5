"""Training: a small model learns reverse exactly; resumption and DDP reproduce the loss curve."""

import os
import socket
from dataclasses import replace

import pytest
import torch
import torch.multiprocessing as mp

from lm.checkpoint import load_checkpoint
from lm.config import TrainConfig
from lm.model import ModelConfig
from lm.train import batch_indices, lr_at, train

REVERSE = "examples/reverse.rasp"


def _small(**overrides) -> TrainConfig:
    base = TrainConfig(
        program=REVERSE,
        max_len=6,
        n_examples=2000,
        model=ModelConfig(n_layers=2, d_model=32, n_heads=4),
        tokens=400_000,
        batch_size=32,
        lr=3e-3,
        progress=False,
    )
    return replace(base, **overrides)


def test_reverse_reaches_exact_match(tmp_path):
    config = _small(out=str(tmp_path / "reverse.pt"), long_range=(7, 8))
    metrics = train(config)
    assert metrics["exact_match"] >= 0.95  # 55 test inputs: one or two may still fail
    assert metrics["test_output_ppl"] < 1.1
    assert metrics["ngram3_output_ppl"] > 2  # a Markov model cannot reverse
    assert metrics["tokens"] >= config.tokens
    assert metrics["flops_exact"] > 0 and metrics["flops_6nd"] > 0
    assert "exact_match_long" in metrics
    model, tokenizer, saved, state = load_checkpoint(config.out)
    assert saved.identity() == config.identity() and state["step"] == metrics["steps"]
    prompt = torch.tensor([tokenizer.encode(["a", "b", "c", "c"])])
    assert tokenizer.decode(model.generate(prompt, 5, greedy=True)[0, 6:].tolist()) == list("ccba")


def test_resumed_run_matches_an_unbroken_one(tmp_path):
    config = _small(tokens=6000, n_examples=300, model=ModelConfig(1, 16, 2))
    whole = train(config)
    out = str(tmp_path / "ckpt.pt")
    first = train(replace(config, out=out, max_steps=7))
    assert first["steps"] == 7 < whole["steps"]
    second = train(replace(config, out=out))
    assert second["loss_curve"] == pytest.approx(whole["loss_curve"], rel=1e-5)
    with pytest.raises(ValueError, match="different run"):
        train(replace(config, out=out, lr=1e-2))


def test_schedule_and_batches():
    config = TrainConfig(lr=1.0, warmup_fraction=0.1, min_lr_ratio=0.1)
    assert lr_at(0, 100, config) == pytest.approx(0.1)
    assert lr_at(9, 100, config) == pytest.approx(1.0)
    assert lr_at(99, 100, config) == pytest.approx(0.1, abs=1e-3)
    steps = [batch_indices(s, 10, 4, seed=1) for s in range(5)]
    flat = torch.cat(steps).tolist()
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert torch.equal(batch_indices(3, 10, 4, seed=1), steps[3])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, config: TrainConfig, queue) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    try:
        metrics = train(config)
        queue.put((rank, metrics["loss_curve"]))
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_two_gloo_processes_match_one(monkeypatch):
    config = _small(tokens=8000, n_examples=300, model=ModelConfig(1, 16, 2), device="cpu")
    single = train(config)["loss_curve"]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(
        _ddp_worker,
        args=(2, _free_port(), config, queue),
        nprocs=2,
        join=True,
        start_method="spawn",
    )
    curves = dict(queue.get() for _ in range(2))
    assert curves[0] == pytest.approx(curves[1], rel=1e-6)  # ranks agree on the global loss
    assert len(curves[0]) == len(single)
    assert curves[0] == pytest.approx(single, rel=1e-3, abs=1e-4)


def test_torchrun_ranks_take_the_gpu_of_their_local_rank(monkeypatch):
    """Under torchrun every process must use its own GPU, not the index given on the command
    line (which would put every rank on one GPU)."""
    from lm import train as train_mod

    monkeypatch.setattr(train_mod, "pick_device", lambda name: torch.device(name or "cuda"))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert train_mod._device(_small(device="cuda")) == torch.device("cuda", 3)
    assert train_mod._device(_small(device="cuda:3")) == torch.device("cuda", 3)
    with pytest.raises(ValueError, match="LOCAL_RANK"):
        train_mod._device(_small(device="cuda:0"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert train_mod._device(_small(device="cuda:1")) == torch.device("cuda", 1)


def test_losses_read_back_in_batches_match_a_read_every_step():
    """The loop reads losses from the device every log_every steps (no sync per step): the
    curve must be the same as reading each step's loss at once."""
    config = _small(tokens=3000, n_examples=200, model=ModelConfig(1, 16, 2))
    every = train(replace(config, log_every=1))["loss_curve"]
    batched = train(replace(config, log_every=7))["loss_curve"]
    assert len(every) == len(batched) > 7 and every == batched
