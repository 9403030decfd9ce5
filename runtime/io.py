"""Model files: one `.safetensors` file holds the weights, the config and the manifest.

The config and manifest travel as JSON strings in the safetensors metadata, so a model is a single
self-describing file. Loading checks the header before touching tensor data, so a truncated,
foreign or mismatched file is one clear `ModelFileError` rather than a crash deep in torch.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from runtime.device import pick_device
from runtime.model import Transformer, TransformerConfig

FORMAT = "raspc"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


class ModelFileError(Exception):
    """A model file cannot be read: missing, truncated, not a raspc model, or inconsistent."""


def save(model: nn.Module, path: str | os.PathLike, manifest: dict[str, Any] | None = None) -> None:
    """Write the model's weights, config and `manifest` (any JSON-able dict) to `path`.

    Written by `write_safetensors`, so an interrupted save never leaves half a model behind.
    """
    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    if not isinstance(model, Transformer):
        raise TypeError(f"save expects a runtime.Transformer, not {type(model).__name__}")
    try:
        manifest_json = json.dumps(manifest or {})
    except (TypeError, ValueError) as err:
        raise ValueError(f"manifest is not JSON-serialisable: {err}") from None
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict()),
        "manifest": manifest_json,
    }
    write_safetensors(path, model.state_dict(), metadata)


def write_safetensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Write a safetensors file atomically: beside the target, then renamed into place, so an
    interrupted write leaves the previous file (or none), never half of one. Each tensor is
    copied to the CPU (tied weights share storage, which safetensors refuses). An I/O failure
    is an OSError in the system's words."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except SafetensorError as err:
        found = re.search(r"I/O error: (.*?) \(os error (\d+)\)", str(err))
        if found is None:
            raise OSError(str(err)) from None
        raise OSError(int(found.group(2)), found.group(1), str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


def read_header(path: str | os.PathLike) -> tuple[TransformerConfig, dict[str, Any]]:
    """The config and manifest of a model file, checking that its tensor data is all there."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            n = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
            if len(prefix) < 8 or n > _MAX_HEADER:
                raise ModelFileError(f"{path}: not a safetensors file")
            raw = f.read(n)
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read: {err.strerror or err}") from None
    if not raw.startswith(b"{"):
        raise ModelFileError(f"{path}: not a safetensors file")
    if len(raw) < n:
        raise ModelFileError(
            f"{path}: truncated: the header needs {n} bytes, the file has {size - 8}"
        )
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path}: not a safetensors file (its header is not JSON)") from None
    meta = header.pop("__metadata__", None) or {}
    try:
        needed = max((int(t["data_offsets"][1]) for t in header.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ModelFileError(f"{path}: corrupt safetensors header") from None
    if needed > size - 8 - n:
        raise ModelFileError(
            f"{path}: truncated: the tensors need {needed} bytes of data, "
            f"the file has {size - 8 - n}"
        )
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: a safetensors file, but not a raspc model (no raspc metadata)"
        )
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path}: unknown raspc format version "
            f"{meta.get('format_version')!r} (this raspc reads {FORMAT_VERSION})"
        )
    try:
        config = TransformerConfig.from_dict(json.loads(meta["config"]))
        manifest = json.loads(meta.get("manifest", "{}"))
    except RecursionError:
        raise ModelFileError(f"{path}: invalid config or manifest: nested too deeply") from None
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: invalid config or manifest: {err}") from None
    return config, manifest


def load(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[Transformer, dict[str, Any]]:
    """Read a model file into a `Transformer` on `device` (see `pick_device`); returns
    (model, manifest). The weights keep the dtype they were saved in."""
    config, manifest = read_header(path)
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError) as err:
        raise ModelFileError(f"{path}: corrupt tensor data: {err}") from None
    model = Transformer(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(expected.keys() - tensors.keys())
    unexpected = sorted(tensors.keys() - expected.keys())
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: tensors do not match the config: "
            f"missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ModelFileError(
                f"{path}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                f"the config needs {shape}"
            )
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) == 1:
        model.to(dtypes.pop())
    model.load_state_dict(tensors)
    return model.to(pick_device(device)), manifest
