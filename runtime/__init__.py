"""raspc runtime: the PyTorch transformer that executes compiled RASP programs and trained LMs."""

from runtime.batches import run_padded, run_token_logits
from runtime.device import exact_fp32, pick_device
from runtime.fast import FastForward
from runtime.io import ModelFileError, load, save
from runtime.model import LayerConfig, Transformer, TransformerConfig

__all__ = [
    "FastForward",
    "LayerConfig",
    "ModelFileError",
    "Transformer",
    "TransformerConfig",
    "exact_fp32",
    "load",
    "pick_device",
    "run_padded",
    "run_token_logits",
    "save",
]
