"""Everything the report says about one experiment, gathered before rendering (plain data only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from g4r_tune.report.analysis import Budget, Convergence
from g4r_tune.report.reader import Experiment

LATENCY_COLUMNS: tuple[str, ...] = ("p50_ms", "p95_ms", "p99_ms", "p999_ms")


@dataclass
class FinalRow:
    rank: int
    trial_id: str
    epochs: int
    valid_value: float
    test: dict[str, tuple[float, float]]  # metric -> (mean, 95% CI half-width)
    n_seeds: int
    seconds: float | None
    errors: list[str] = field(default_factory=list)


@dataclass
class Facts:
    exp: Experiment
    label: str  # heading prefix ("" for a single experiment)
    table: pd.DataFrame  # trials_table + latency columns
    ranked: pd.DataFrame
    budget: Budget
    top_k: int
    p99_budget_ms: float
    tolerance: float
    dataset_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # split name -> stats
    latency_source: str = ""
    latency_env: dict[str, Any] = field(default_factory=dict)  # device / threads / torch / requests
    latency_measured_ids: set[str] = field(default_factory=set)  # trials whose own checkpoint was timed
    convergences: list[Convergence] = field(default_factory=list)
    rungs: pd.DataFrame | None = None
    importances: dict[str, float] = field(default_factory=dict)
    importance_note: str | None = None
    importance_method: str = "Optuna's default evaluator"
    train_command: str = "g4r-tune train TRAIN.tsv --test TEST.tsv"
    final_rows: list[FinalRow] = field(default_factory=list)
    final_note: str = ""
    tuned: list[tuple[int, Path, str]] = field(default_factory=list)  # rank, yaml path, param string
    plots: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.exp.metric

    @property
    def mode(self) -> str:
        return self.exp.mode
