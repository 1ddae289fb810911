"""Checkpoint round trip (identical scores) and clear errors for missing, corrupt and mismatched files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from g4r_tune.checkpoint import load_checkpoint, save_checkpoint
from g4r_tune.config import Hyperparams
from g4r_tune.data.sessions import ItemIndex
from g4r_tune.errors import CheckpointError
from g4r_tune.model import GRU4Rec

N_ITEMS = 25


def _scores(model: torch.nn.Module, items: list[int]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        hidden = model.init_hidden(len(items))
        out, hidden = model.step(torch.tensor(items), hidden)
        out, _ = model.step(torch.tensor(items[::-1]), hidden)
        return model.score_all(out)


def _saved(tmp_path: Path, params: Hyperparams | None = None, ids=None) -> tuple[Path, GRU4Rec]:
    params = params or Hyperparams(layers=(6, 5), loss="bpr-max")
    torch.manual_seed(0)
    model = GRU4Rec(params, N_ITEMS)
    with torch.no_grad():
        model.By.normal_()  # non-default values everywhere
    index = ItemIndex.from_ids(np.asarray(ids if ids is not None else np.arange(100, 100 + N_ITEMS)))
    folder = save_checkpoint(tmp_path / "ckpt", model, params, index, extra={"epochs": 3, "train": "x.tsv"})
    return folder, model


@pytest.mark.parametrize(
    "params",
    [
        Hyperparams(layers=(6, 5), loss="bpr-max"),
        Hyperparams(layers=(7,), constrained_embedding=False, embedding=4),
        Hyperparams(layers=(7,), constrained_embedding=False, embedding=0),  # one-hot input
        Hyperparams(layers=(7,), constrained_embedding=False, embedding="layersize"),
    ],
)
def test_round_trip_gives_identical_scores(tmp_path: Path, params: Hyperparams) -> None:
    folder, model = _saved(tmp_path, params)
    loaded = load_checkpoint(folder)
    assert loaded.params == params
    assert loaded.extra == {"epochs": 3, "train": "x.tsv"}
    assert loaded.item_index.ids.tolist() == list(range(100, 100 + N_ITEMS))
    assert not loaded.model.training
    items = [0, 3, 24, 7]
    assert torch.equal(_scores(loaded.model, items), _scores(model, items))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "items.json", "model.pt"]


def test_string_item_ids_survive(tmp_path: Path) -> None:
    ids = [f"sku-{i}" for i in range(N_ITEMS)]
    folder, _ = _saved(tmp_path, ids=ids)
    assert load_checkpoint(folder).item_index.ids.tolist() == sorted(ids)


def test_overwrite_replaces_the_checkpoint(tmp_path: Path) -> None:
    folder, _ = _saved(tmp_path)
    params = Hyperparams(layers=(3,))
    save_checkpoint(folder, GRU4Rec(params, N_ITEMS), params, ItemIndex.from_ids(np.arange(N_ITEMS)))
    assert load_checkpoint(folder).params.layers == (3,)


def _edit_json(path: Path, **changes) -> None:
    payload = json.loads(path.read_text())
    payload.update(changes)
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.pt").unlink(), "model.pt is missing"),
        (lambda f: (f / "items.json").unlink(), "items.json is missing"),
        (lambda f: (f / "config.json").write_text("{not json"), "corrupt JSON"),
        (lambda f: (f / "items.json").write_text('{"kind": "int"}'), "malformed item index"),
        (lambda f: (f / "model.pt").write_bytes(b"\x00garbage" * 10), "cannot read model weights"),
        (lambda f: _edit_json(f / "config.json", format_version=99), "format version 99"),
        (lambda f: _edit_json(f / "config.json", format="other"), "not a g4r-tune checkpoint"),
        (lambda f: _edit_json(f / "config.json", n_items=N_ITEMS + 1), "items.json has 25 items"),
        (lambda f: _edit_json(f / "config.json", params={"layers": [9]}), "weights do not match"),
        (lambda f: _edit_json(f / "config.json", params={"layerz": [6]}), "layerz"),
        (lambda f: torch.save({"Wy": object()}, f / "model.pt"), "cannot read model weights"),  # a pickled object
    ],
)
def test_damaged_checkpoints_are_clear_errors(tmp_path: Path, damage, message: str) -> None:
    folder, _ = _saved(tmp_path)
    damage(folder)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_missing_folder_and_bad_extra(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope")
    params = Hyperparams(layers=(3,))
    model = GRU4Rec(params, 4)
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(tmp_path / "c", model, params, ItemIndex.from_ids(np.arange(4)), extra={"x": object()})
    with pytest.raises(CheckpointError, match="item index"):
        save_checkpoint(tmp_path / "c", model, params, ItemIndex.from_ids(np.arange(5)))
