"""Checkpoints as a folder of plain files, never pickled objects:

- ``model.pt``: the model's ``state_dict`` (tensors only; loaded with ``torch.load(weights_only=True)``)
- ``config.json``: format name and version, ``n_items``, the hyperparameters, the g4r-tune version, ``extra``
- ``items.json``: the training item index (``ItemIndex.to_json()``), to encode test files the same way

``config.json`` is written last, so a folder whose ``config.json`` loads is complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from g4r_tune import __version__
from g4r_tune.config import Hyperparams
from g4r_tune.data.sessions import ItemIndex
from g4r_tune.errors import CheckpointError, ConfigError, DataError

FORMAT_NAME = "g4r-tune-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE, CONFIG_FILE, ITEMS_FILE = "model.pt", "config.json", "items.json"


@dataclass(frozen=True)
class LoadedCheckpoint:
    model: torch.nn.Module  # a g4r_tune.model.GRU4Rec in eval mode, on the requested device
    params: Hyperparams
    item_index: ItemIndex
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path_dir: str | os.PathLike,
    model: torch.nn.Module,
    params: Hyperparams,
    item_index: ItemIndex,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write (or overwrite) a checkpoint folder; returns its path. ``extra`` must be JSON-serialisable."""
    folder = Path(path_dir)
    if len(item_index) != model.n_items:
        raise CheckpointError(f"item index has {len(item_index)} items but the model has {model.n_items}")
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "g4r_tune_version": __version__,
        "n_items": int(model.n_items),
        "params": params.to_dict(),
        "param_string": params.to_param_string(),
        "extra": extra or {},
    }
    try:
        config_text = json.dumps(config, indent=2, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint extra is not JSON-serialisable: {err}") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).unlink(missing_ok=True)  # an interrupted overwrite then reads as incomplete
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        _replace_atomically(folder / MODEL_FILE, lambda f: torch.save(state, f))
        _replace_atomically(folder / ITEMS_FILE, lambda f: f.write(json.dumps(item_index.to_json()).encode()))
        _replace_atomically(folder / CONFIG_FILE, lambda f: f.write(config_text.encode()))
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint to {folder}: {err}") from None
    return folder


def load_checkpoint(path_dir: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the model (eval mode, on ``device``) with its hyperparameters and item index."""
    from g4r_tune.model import GRU4Rec  # the model layer; imported here so that reading configs stays light

    folder = Path(path_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    for name in (CONFIG_FILE, MODEL_FILE, ITEMS_FILE):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: incomplete checkpoint, {name} is missing")
    config = _read_json(folder / CONFIG_FILE)
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a g4r-tune checkpoint config")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder / CONFIG_FILE}: checkpoint format version {config.get('format_version')!r} is not supported "
            f"(this g4r-tune reads version {FORMAT_VERSION})"
        )
    try:
        params = Hyperparams.from_mapping(config["params"], path="config.json:params")
        n_items = int(config["n_items"])
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid checkpoint config: {err}") from None
    try:
        item_index = ItemIndex.from_json(_read_json(folder / ITEMS_FILE))
    except DataError as err:
        raise CheckpointError(f"{folder / ITEMS_FILE}: {err}") from None
    if len(item_index) != n_items:
        raise CheckpointError(f"{folder}: items.json has {len(item_index)} items but config.json says {n_items}")
    try:
        state = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds (UnpicklingError, RuntimeError, EOFError...)
        reason = f"{type(err).__name__}: {_first_line(err)}"
        raise CheckpointError(f"{folder / MODEL_FILE}: cannot read model weights ({reason})") from None
    model = GRU4Rec(params, n_items)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{folder / MODEL_FILE}: weights do not match config.json: {_first_line(err)}") from None
    model.to(device)
    model.eval()
    extra = config.get("extra") or {}
    return LoadedCheckpoint(model=model, params=params, item_index=item_index, extra=dict(extra))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: unreadable or corrupt JSON: {err}") from None


def _replace_atomically(path: Path, write) -> None:
    """Write to a temporary sibling, then rename: a crash never leaves a half-written file under ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)
