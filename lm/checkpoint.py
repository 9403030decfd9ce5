"""Training checkpoints as safetensors plus JSON metadata: loading one never runs code.

A checkpoint is one `.safetensors` file. Its tensors are the model's weights (`model.*`)
and the optimizer's moment estimates (`optim.<param>.<name>`); its metadata holds one JSON
document: the run's config, the transformer's shape, the tokenizer, the training state (step,
tokens, FLOPs, loss curve), the optimizer's hyper-parameters, and the program's source text
with every file it loads, so that `rasp lm eval` works from any directory.

`load_checkpoint` rebuilds the run from one: its model, tokenizer, config and state.

Older checkpoints were pickles (`torch.save`), which execute code when loaded; they are
recognised by their first bytes and refused with a message instead of being unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from lm.config import TrainConfig
from lm.data import Tokenizer
from lm.model import build_model
from runtime import TransformerConfig
from runtime.io import write_safetensors

FORMAT = "raspc-lm-checkpoint"
VERSION = 1
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; a bare pickle protocol 2+


class CheckpointError(ValueError):
    """A file that is not a readable lm checkpoint (the message is one line)."""


def save(
    path: str | Path,
    meta: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write atomically, so an interrupted save leaves the previous checkpoint intact."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {**meta, "format": FORMAT, "version": VERSION}
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, slots in state["state"].items():
            for name, value in slots.items():
                tensors[f"optim.{index}.{name}"] = value
        meta["optimizer"] = {"param_groups": state["param_groups"]}
    write_safetensors(path, tensors, {"raspc": json.dumps(meta)})


def load(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """`(metadata, tensors)` of a checkpoint; `CheckpointError` for anything else."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise CheckpointError(f"{path}: {err.strerror}") from None
    if head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"{path} is a pickle checkpoint (an older raspc's torch.save); pickles can run "
            "code when loaded, so it is not read: retrain to get a safetensors checkpoint"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("raspc")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path} is not an lm checkpoint (not safetensors: {reason})"
        ) from None
    try:
        meta = json.loads(raw) if raw else None
    except (json.JSONDecodeError, RecursionError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an lm checkpoint")
    return meta, tensors


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


def optimizer_state(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The `optimizer.state_dict()` that `save` took apart."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["optimizer"]["param_groups"]}


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """`(model, tokenizer, config, state)` from a checkpoint written by `train`; `state`
    holds the step, tokens, FLOPs, loss curve and the program's sources. Never unpickles."""
    meta, tensors = load(path)
    try:
        config = TrainConfig(**meta["config"])
        model = build_model(TransformerConfig.from_dict(meta["transformer"]), config.model.position)
        model.load_state_dict(model_state(tensors))
        tokenizer = Tokenizer.from_dict(meta["tokenizer"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: a damaged lm checkpoint ({err})") from None
    return model.to(device).eval(), tokenizer, config, meta
