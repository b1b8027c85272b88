"""The checkpoint file: what training writes and export (and resumed training) read.

One ``torch.save`` of plain data, so that it loads with ``torch.load(weights_only=True)``
and opening a checkpoint never runs code from it::

    {"format": "dms-checkpoint", "version": 1,
     "config": ModelConfig.to_dict(), "state_dict": {name: tensor}, "meta": {...}}

The config travels with the weights because the weights alone do not say which network
they fit (cell, head, input size, normalisation), and a checkpoint loaded into the wrong
network must stop with the layer that does not fit rather than load half of itself.
``meta`` is free-form plain data (epoch, metrics, the training data hash ...); export
copies it into the model manifest's ``training`` block.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from model.config import ConfigError, ModelConfig
from model.network import HeadPoseNet, build_model

CHECKPOINT_FORMAT = "dms-checkpoint"
CHECKPOINT_VERSION = 1

# How many missing or unexpected keys an error lists by name before it says "... and N more":
# enough to recognise a renamed layer or a different cell, short enough to read.
MAX_NAMED_KEYS = 5


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of another format or that does not fit
    the network its own config builds."""


def _check_plain(value: Any, where: str) -> None:
    """Refuse meta values that weights_only loading cannot read back (or JSON cannot hold,
    since meta ends up in the manifest)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointError(f"meta field '{where}': {value} is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(f"meta field '{where}': key {key!r} is not a string")
            _check_plain(item, f"{where}.{key}" if where else key)
        return
    raise CheckpointError(
        f"meta field '{where}': {type(value).__name__} is not plain data "
        "(use str, int, float, bool, None, lists and dicts)")


def save_checkpoint(path: Path | str, model: HeadPoseNet, meta: dict[str, Any] | None = None) -> Path:
    """Write model + config + meta to `path` atomically (a reader never sees half a file).

    Tensors are moved to the CPU so that a checkpoint trained on a GPU loads anywhere.
    """
    path = Path(path)
    meta = dict(meta or {})
    _check_plain(meta, "")
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": state,
        "meta": meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _shape(t: torch.Tensor) -> list[int]:
    return list(t.shape)


def _names(keys: list[str]) -> str:
    shown = ", ".join(f"'{k}'" for k in keys[:MAX_NAMED_KEYS])
    more = len(keys) - MAX_NAMED_KEYS
    return shown + (f" ... and {more} more" if more > 0 else "")


def check_state_dict(model: HeadPoseNet, state: dict[str, Any], source: str) -> None:
    """Raise CheckpointError naming the first layer whose shape differs (both shapes),
    and the missing / unexpected keys, in the network's own layer order."""
    expected = model.state_dict()
    problems: list[str] = []
    mismatched = []
    for key, ref in expected.items():
        if key in state:
            value = state[key]
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{source}: layer '{key}': holds a {type(value).__name__}, not a tensor")
            if value.shape != ref.shape:
                mismatched.append((key, _shape(value), _shape(ref)))
    if mismatched:
        key, got, want = mismatched[0]
        text = f"layer '{key}': checkpoint has {got}, config builds {want}"
        if len(mismatched) > 1:
            text += f" (and {len(mismatched) - 1} more layers differ)"
        problems.append(text)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing from the checkpoint: {_names(missing)}")
    if unexpected:
        problems.append(f"not in the network the config builds: {_names(unexpected)}")
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))


def load_checkpoint(path: Path | str) -> tuple[HeadPoseNet, dict[str, Any]]:
    """Read a checkpoint -> (model on the CPU in eval mode, meta).

    Eval mode because most readers infer (export, evaluation); training calls .train().
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise CheckpointError(f"{source}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refused a Python object: name it, never fall back to full unpickling.
        detail = next((ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln), "")
        detail = detail.split(" was not an allowed global")[0].replace("WeightsUnpickler error: ", "")
        raise CheckpointError(
            f"{source}: not a readable dms checkpoint: it holds Python objects beyond tensors and plain "
            f"data ({detail or 'weights_only refused it'}); loading it could run code, so it is refused") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; all mean "not readable"
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise CheckpointError(
            f"{source}: not a readable dms checkpoint (truncated, or not written by torch.save: "
            f"{type(exc).__name__}: {first})") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{source}: holds a {type(payload).__name__}, not a dms checkpoint dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{source}: field 'format': expected '{CHECKPOINT_FORMAT}', got {payload.get('format')!r} "
            "(a bare state_dict or another project's file?)")
    version = payload.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{source}: field 'version': expected a positive integer, got {version!r}")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{source}: field 'version': {version} is newer than this code reads ({CHECKPOINT_VERSION}); "
            "update dms")
    for field in ("config", "state_dict", "meta"):
        if not isinstance(payload.get(field), dict):
            raise CheckpointError(
                f"{source}: field '{field}': expected a dict, got {type(payload.get(field)).__name__}")
    try:
        cfg = ModelConfig.from_dict(payload["config"], f"{source}: field 'config'")
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(str(exc)) from None
    model = build_model(cfg)
    state: dict[str, Any] = payload["state_dict"]
    check_state_dict(model, state, source)
    model.load_state_dict(state)
    return model.eval(), dict(payload["meta"])
