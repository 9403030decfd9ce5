"""Train a causal `runtime.Transformer` on a RASP program's data: `train(config) -> metrics`.

AdamW with linear warm-up then cosine decay to the token budget, gradient clipping, loss on the
output tokens only (or on whole sequences), bf16 autocast on CUDA, a tqdm bar with loss and
tokens/s, and a checkpoint that a rerun resumes from. Under `torchrun` (`WORLD_SIZE` > 1)
the same function trains with DistributedDataParallel: every rank builds the same data, the
global batch of each step is the same on every rank and each takes its slice, and the loss is
normalised by the global count of scored tokens, so a run on k processes follows the loss curve
of one process with the same global batch.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from lm import checkpoint as ckpt
from lm.chinchilla import training_flops
from lm.config import TrainConfig, load_data
from lm.data import (
    Dataset,
    Program,
    SequenceBatch,
    program_sources,
)
from lm.model import build_model
from lm.perplexity import NGram, exact_match, model_perplexity
from runtime import Transformer, TransformerConfig
from runtime.device import autocast, maybe_compile, pick_device


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warm-up to `lr`, then cosine decay to `min_lr_ratio * lr` at the last step."""
    warmup = max(1, round(config.warmup_fraction * total_steps))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    floor = config.min_lr_ratio * config.lr
    return floor + 0.5 * (config.lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def batch_indices(
    step: int, n: int, batch_size: int, seed: int, perms: dict[int, torch.Tensor] | None = None
) -> torch.Tensor:
    """The global batch of `step`: consecutive slices of one seeded permutation per epoch, a
    pure function of the step so that a resumed run sees the same data as an unbroken one.
    `perms` caches the permutations (one draw per epoch, not per step)."""
    perms = {} if perms is None else perms
    start = step * batch_size
    parts, taken = [], 0
    while taken < batch_size:
        epoch, offset = divmod(start + taken, n)
        if epoch not in perms:
            gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
            perms.clear()  # epochs are visited in order: keep one
            perms[epoch] = torch.randperm(n, generator=gen)
        part = perms[epoch][offset : offset + batch_size - taken]
        parts.append(part)
        taken += len(part)
    return torch.cat(parts)


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only; biases and norm gains are left alone."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: torch.device) -> _Dist:
    """Join the process group that `torchrun` describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size())


def _device(config: TrainConfig) -> torch.device:
    """The configured device; under `torchrun` on CUDA, the GPU of this process's
    `LOCAL_RANK` (a fixed index would put every rank on one GPU)."""
    device = pick_device(config.device)
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is not None and device.index != local:
            raise ValueError(
                f"under torchrun each process uses the GPU of its LOCAL_RANK; pass --device cuda, "
                f"not {config.device}"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return device


def parameter_counts(model: Transformer) -> dict[str, int]:
    """`params` (all) and `params_non_embedding` (the `N` of `C ~= 6 N D`: lookups in
    the token and position tables cost no multiply-adds)."""
    return {"params": model.num_params(), "params_non_embedding": model.num_params(False)}


def evaluate(
    model: Transformer,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 512,
    ngram_order: int = 3,
) -> dict[str, float]:
    """Perplexities (validation, test, held-out lengths), the n-gram baseline's, and exact
    match in distribution (test) and on held-out longer inputs, with the example counts.

    The model is evaluated in float64: float32 log-probabilities cannot resolve an NLL below
    about 1e-7 (a true 1.8e-6 reads 2.1e-6, and 1.2e-8 reads 0)."""
    model = copy.deepcopy(model).double()
    metrics: dict[str, float] = {}
    splits = ("val", "test", "long") if "long" in data.splits else ("val", "test")
    for split in splits:
        ppl = model_perplexity(model, data.tensors(split), batch_size=batch_size, device=device)
        metrics.update(ppl.as_dict(prefix=f"{split}_"))
    ngram = NGram(ngram_order, data.tokenizer.size).fit(data.tensors("train"))
    metrics.update(ngram.perplexity(data.tensors("test")).as_dict(prefix=f"ngram{ngram_order}_"))
    for split, key in (("test", "exact_match"), ("long", "exact_match_long")):
        if split in data.splits:
            metrics[key] = exact_match(
                model, data.splits[split], data.tokenizer, batch_size=batch_size, device=device
            )
            metrics[f"{split}_examples"] = len(data.splits[split])
    return metrics


def train(config: TrainConfig, program: Program | None = None) -> dict[str, Any]:
    """Train to the token budget (resuming from `config.out` when it holds a checkpoint of
    the same run) and return metrics: the loss curve, parameter and token counts, FLOPs, and
    the evaluation on the held-out splits."""
    device = _device(config)
    threads = torch.get_num_threads()
    if device.type == "cpu" and config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(config, program, device)
    finally:
        torch.set_num_threads(threads)


@dataclass
class _DeviceData:
    """The training split, moved to the device once: ids, scored-target masks, and on the
    host the per-sequence counts a step needs (so a step never reads back from the device)."""

    ids: torch.Tensor
    scored: torch.Tensor  # [n, T-1] targets that carry loss
    lengths: torch.Tensor  # host
    n_scored: torch.Tensor  # host, per sequence
    flops: torch.Tensor  # host, exact training FLOPs per sequence at its own length

    @classmethod
    def build(cls, batch: SequenceBatch, loss_on: str, tconfig, device) -> _DeviceData:
        scored = _scored(batch, loss_on)
        per_len = {n: _flops_per_sequence(tconfig, n - 1) for n in set(batch.lengths.tolist())}
        return cls(
            batch.ids.to(device),
            scored.to(device),
            batch.lengths,
            scored.sum(dim=1),
            torch.tensor([per_len[n] for n in batch.lengths.tolist()], dtype=torch.float64),
        )


def _train(config: TrainConfig, program: Program | None, device: torch.device) -> dict[str, Any]:
    ddp = _setup_distributed(device)
    if config.batch_size < ddp.world:
        raise ValueError(f"batch_size {config.batch_size} is smaller than {ddp.world} processes")
    data = load_data(config, program)
    sources = program_sources(config.program) if program is None else {}
    train_set = data.tensors("train")
    tconfig = config.model.transformer(data.tokenizer.size, data.max_seq_len)
    torch.manual_seed(config.seed)
    model = build_model(tconfig, config.model.position).to(device)
    optimizer = torch.optim.AdamW(
        _decay_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.95)
    )
    mean_len = float(train_set.lengths.float().mean())
    total_steps = max(1, math.ceil(config.tokens / (config.batch_size * mean_len)))
    state: dict[str, Any] = {"step": 0, "tokens": 0, "flops": 0.0, "loss_curve": []}
    if config.out and config.resume and Path(config.out).exists():
        meta, tensors = ckpt.load(config.out)
        if TrainConfig(**meta["config"]).identity() != config.identity():
            raise ValueError(
                f"{config.out} holds a different run; pass another output path or do not resume"
            )
        model.load_state_dict(ckpt.model_state(tensors))
        optimizer.load_state_dict(ckpt.optimizer_state(meta, tensors))
        state = {k: meta[k] for k in state}
    net = maybe_compile(model, config.torch_compile)
    if ddp.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )

    def checkpoint() -> None:
        if config.out and ddp.main:
            meta = {
                **state,
                "config": asdict(config),
                "transformer": tconfig.to_dict(),
                "tokenizer": data.tokenizer.to_dict(),
                "sources": sources,
            }
            ckpt.save(config.out, meta, model, optimizer)

    bar = tqdm(
        total=total_steps,
        initial=state["step"],
        disable=not (config.progress and ddp.main),
        desc=f"train {Path(config.program).stem or 'program'}",
        dynamic_ncols=True,
    )
    # Static shapes (every batch padded to the longest sequence) let torch.compile and CUDA
    # graphs reuse one kernel plan; on the CPU, trimming each batch to its longest is faster.
    static = device.type != "cpu" or config.torch_compile != "none"
    dev = _DeviceData.build(train_set, config.loss_on, tconfig, device)
    perms: dict[int, torch.Tensor] = {}
    pending: list[tuple[torch.Tensor, int]] = []  # (device loss sum, scored count) not yet read

    def drain() -> None:
        """Read the pending losses back from the device: the only host sync of the loop."""
        if not pending:
            return
        sums = torch.stack([p[0] for p in pending]).tolist()
        state["loss_curve"].extend(t / n for t, (_, n) in zip(sums, pending, strict=True))
        pending.clear()
        elapsed = time.perf_counter() - started
        bar.set_postfix(
            loss=f"{state['loss_curve'][-1]:.3g}",
            tok_s=f"{(state['tokens'] - tokens_at_start) / max(elapsed, 1e-9):.0f}",
        )

    started, tokens_at_start = time.perf_counter(), state["tokens"]
    model.train()
    stop_at = (
        total_steps
        if config.max_steps is None
        else min(total_steps, state["step"] + config.max_steps)
    )
    while state["step"] < stop_at:
        step = state["step"]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, config)
        index = batch_indices(step, len(train_set), config.batch_size, config.seed, perms)
        n_scored = int(dev.n_scored[index].sum())
        local = index[ddp.rank :: ddp.world]
        width = dev.ids.shape[1] if static else int(dev.lengths[index].max())
        if device.type == "cuda":
            local = local.pin_memory().to(device, non_blocking=True)
        ids = dev.ids[local, :width]
        with autocast(device):
            logits = net(ids[:, :-1])
        token_nll = F.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")
        nll_sum = (token_nll * dev.scored[local, : width - 1]).sum()
        # DDP averages gradients over ranks: scale so that the average is the global mean.
        (nll_sum * ddp.world / n_scored).backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum = nll_sum.detach()
        if ddp.world > 1:
            dist.all_reduce(loss_sum)
        pending.append((loss_sum, n_scored))
        state["tokens"] += int(dev.lengths[index].sum())
        state["flops"] += float(dev.flops[index].sum())
        state["step"] = step + 1
        bar.update(1)
        if state["step"] % config.log_every == 0:
            drain()
        if config.checkpoint_every and state["step"] % config.checkpoint_every == 0:
            drain()
            checkpoint()
    drain()
    bar.close()
    checkpoint()
    metrics: dict[str, Any] = {
        "steps": state["step"],
        "total_steps": total_steps,
        "tokens": state["tokens"],
        "flops_6nd": 6.0 * model.num_params(False) * state["tokens"],
        "flops_exact": state["flops"],
        # D counts every token a step reads: repeats of the training set, and inputs as well
        # as the outputs that carry the loss.
        "epochs": state["tokens"] / int(dev.lengths.sum()),
        "scored_fraction": float(dev.n_scored.sum()) / int(dev.lengths.sum()),
        "final_train_loss": state["loss_curve"][-1] if state["loss_curve"] else math.nan,
        "loss_curve": state["loss_curve"],
        "layers": config.model.n_layers,
        "d_model": config.model.d_model,
        "position": config.model.position,
        **parameter_counts(model),
    }
    if ddp.main:
        metrics.update(evaluate(model, data, device=device, batch_size=config.eval_batch_size))
    return metrics


def _scored(batch: SequenceBatch, loss_on: str) -> torch.Tensor:
    return batch.output_mask if loss_on == "outputs" else batch.target_mask


def _flops_per_sequence(config: TransformerConfig, seq_len: int) -> float:
    layer = config.layers[0]
    return training_flops(
        n_layers=len(config.layers),
        d_model=config.d_model,
        n_heads=layer.n_heads,
        d_head=layer.d_head,
        d_mlp=layer.d_mlp,
        vocab_size=config.vocab_size,
        seq_len=seq_len,
    )
