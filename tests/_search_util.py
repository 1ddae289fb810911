"""Helpers for the search tests: a fake trainer whose validation score is a known function of its config, and
spec builders. The fake lets trainable/search plumbing be tested without the real model (and runs inside Ray)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from g4r_tune.config import EvalConfig, Hyperparams, RuntimeConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import TrainingDiverged
from g4r_tune.trainable import TrialData, run_trial

DIVERGE_LR = 0.5  # the fake trainer diverges at this learning rate


@dataclass
class FakeStats:
    epoch: int
    loss: float
    seconds: float
    events_per_second: float
    n_batches: int = 1


@dataclass
class FakeResult:
    recall: dict[int, float]
    mrr: dict[int, float]
    n_predictions: int = 100


class FakeTrainer:
    """Score rises with epochs towards a ceiling set by learning_rate (best near 0.1)."""

    def __init__(self, params: Hyperparams, data: SessionData, runtime: RuntimeConfig, sleep: float = 0.0) -> None:
        self.params, self.data, self.runtime, self.sleep = params, data, runtime, sleep
        self.epoch = 0
        self.model = torch.nn.Linear(2, 2)
        assert data.items.flags.writeable  # the trainable must hand us writable copies

    def ceiling(self) -> float:
        return 0.9 - abs(math.log10(self.params.learning_rate) + 1.0) * 0.3

    def train_epoch(self, progress: Any = None) -> FakeStats:
        if self.params.learning_rate >= DIVERGE_LR:
            raise TrainingDiverged(self.epoch + 1, 3, float("nan"))
        time.sleep(self.sleep)
        self.epoch += 1
        return FakeStats(epoch=self.epoch, loss=1.0 / self.epoch, seconds=0.01, events_per_second=1000.0)

    def score(self) -> float:
        return self.ceiling() * (1.0 - 0.5**self.epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])


def fake_evaluate(model: Any, data: SessionData, config: EvalConfig, n_drop: int, trainer: FakeTrainer) -> FakeResult:
    s = trainer.score()
    return FakeResult(recall={k: s * min(1.0, k / 20) for k in config.cutoffs}, mrr={k: s / 3 for k in config.cutoffs})


def fake_save(folder: Path, model: Any, params: Hyperparams, data: SessionData, extra: dict[str, Any]) -> None:
    (folder / "config.json").write_text(json.dumps({"params": params.to_dict(), "extra": extra}))


def run_fake_trial(config: dict[str, Any], data: TrialData, ctx: Any, sleep: float = 0.0) -> None:
    holder: dict[str, FakeTrainer] = {}

    def make(params: Hyperparams, train: SessionData, runtime: RuntimeConfig) -> FakeTrainer:
        holder["t"] = FakeTrainer(params, train, runtime, sleep)
        return holder["t"]

    run_trial(
        config,
        data,
        ctx,
        make_trainer=make,
        evaluate_fn=lambda m, d, c, n: fake_evaluate(m, d, c, n, holder["t"]),
        save_fn=fake_save,
    )


def fake_ray_trainable(config: dict[str, Any], data: TrialData) -> None:
    """``ray_trainable`` with the fake trainer (for end-to-end tests on real Ray)."""
    from g4r_tune.trainable import RayTrialContext

    run_fake_trial(config, data, RayTrialContext(), sleep=0.05)


def tiny_sessions(n_sessions: int = 20, n_items: int = 10, seed: int = 0) -> SessionData:
    import numpy as np

    from g4r_tune.data.sessions import ItemIndex

    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 5, n_sessions)
    sids = np.repeat(np.arange(n_sessions), lengths)
    items = rng.integers(0, n_items, len(sids))
    times = np.arange(len(sids), dtype=float)
    return SessionData.from_arrays(sids, items, times, ItemIndex.from_ids(np.arange(n_items)))


def base_spec(**overrides: Any) -> dict[str, Any]:
    """A valid spec mapping on synthetic data; override top-level keys."""
    spec: dict[str, Any] = {
        "name": "t",
        "data": {"synthetic": {"n_items": 200, "n_sessions": 400, "days": 4, "seed": 1}},
        "fixed": {"n_sample": 16},
        "space": {
            "loss": {"type": "categorical", "choices": ["bpr-max", "cross-entropy"]},
            "layers": {"type": "int", "low": 8, "high": 16, "step": 8},
            "learning_rate": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
            "bpreg": {"type": "float", "low": 1.0, "high": 2.0, "when": {"loss": "bpr-max"}},
        },
        "metric": "recall@20",
        "search": {"num_samples": 4, "max_concurrent": 2, "seed": 3},
        "asha": {"max_epochs": 3, "grace_period": 1, "reduction_factor": 2},
    }
    spec.update(overrides)
    return spec


def ship_this_module_to_ray() -> None:
    """Ray workers cannot import tests/: pickle this module's functions by value instead."""
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
