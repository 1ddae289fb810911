"""The trainable without Ray: config -> Hyperparams, one report per epoch with all metrics, checkpoints, resume,
read-only data, divergence."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from _search_util import DIVERGE_LR, run_fake_trial, tiny_sessions

from g4r_tune.errors import ConfigError, TrainingDiverged
from g4r_tune.trainable import TRAINER_STATE_FILE, TrialData, hyperparams_from_config

CONFIG = {"loss": "bpr-max", "layers": 16, "learning_rate": 0.1, "n_sample": 8}


class RecordingContext:
    """A TrialContext that keeps every report and copies checkpoints, like Ray would."""

    def __init__(self, root: Path, restore_from: Path | None = None) -> None:
        self.root, self.restore_from = root, restore_from
        self.reports: list[dict[str, Any]] = []
        self.checkpoints: list[Path] = []

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path) -> None:
        self.reports.append(metrics)
        kept = self.root / f"checkpoint_{len(self.checkpoints):06d}"
        shutil.copytree(checkpoint_dir, kept)
        self.checkpoints.append(kept)

    @contextlib.contextmanager
    def restored_checkpoint(self) -> Iterator[Path | None]:
        yield self.restore_from

    def node(self) -> tuple[str, str]:
        return "10.0.0.7", "node-a"

    def trial_dir(self) -> Path | None:
        return self.root


def _read_only_data(max_epochs: int = 3) -> TrialData:
    train, valid = tiny_sessions(seed=0), tiny_sessions(seed=1)
    for arr in (train.items, train.offsets, valid.items, valid.offsets):
        arr.flags.writeable = False  # as numpy arrays arrive from Ray's object store
    return TrialData(train=train, valid=valid, max_epochs=max_epochs, threads=1)


def test_hyperparams_from_config_is_strict_and_sets_epochs() -> None:
    params = hyperparams_from_config({"layers": 32, "loss": "top1"}, max_epochs=4)
    assert params.layers == (32,) and params.n_epochs == 4 and params.loss == "top1"
    with pytest.raises(ConfigError, match="trial config.lr"):
        hyperparams_from_config({"lr": 0.1}, max_epochs=4)


def test_reports_once_per_epoch_with_all_metrics(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path)
    run_fake_trial(CONFIG, _read_only_data(3), ctx)
    assert [r["epoch"] for r in ctx.reports] == [1, 2, 3]
    expected = {f"{m}@{k}" for m in ("recall", "mrr") for k in (1, 5, 10, 20)}
    expected |= {"loss", "epoch", "epoch_seconds", "events_per_second", "node_ip", "node_id"}
    assert expected <= set(ctx.reports[0])
    assert ctx.reports[0]["node_ip"] == "10.0.0.7" and ctx.reports[0]["node_id"] == "node-a"
    assert ctx.reports[2]["recall@20"] > ctx.reports[0]["recall@20"]
    assert all((c / TRAINER_STATE_FILE).is_file() and (c / "config.json").is_file() for c in ctx.checkpoints)


def test_resumes_from_checkpoint(tmp_path: Path) -> None:
    first = RecordingContext(tmp_path / "a")
    run_fake_trial(CONFIG, replace(_read_only_data(2)), first)
    resumed = RecordingContext(tmp_path / "b", restore_from=first.checkpoints[-1])
    run_fake_trial(CONFIG, _read_only_data(4), resumed)
    assert [r["epoch"] for r in resumed.reports] == [3, 4]  # continues, does not restart at epoch 1
    state = torch.load(resumed.checkpoints[-1] / TRAINER_STATE_FILE, weights_only=True)
    assert state["epoch"] == 4


def test_divergence_raises_and_a_retry_fails_at_once(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path)
    with pytest.raises(TrainingDiverged, match="training diverged"):
        run_fake_trial({**CONFIG, "learning_rate": DIVERGE_LR}, _read_only_data(), ctx)
    assert ctx.reports == []
    # a FailureConfig retry of the same trial must not train again into the same NaN
    with pytest.raises(TrainingDiverged):
        run_fake_trial({**CONFIG, "learning_rate": 0.1}, _read_only_data(), RecordingContext(tmp_path))
