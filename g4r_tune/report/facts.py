"""Everything the report says about one experiment, gathered before rendering (plain data only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from g4r_tune.report.analysis import Budget, Convergence, is_better
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
    def metric_label(self) -> str:
        """The users' spelling: recall@20 -> Recall@20, mrr@20 -> MRR@20."""
        return metric_label(self.exp.metric)

    @property
    def mode(self) -> str:
        return self.exp.mode


def metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    pretty = {"recall": "Recall", "mrr": "MRR"}.get(name.lower(), name)
    return f"{pretty}@{k}" if k else pretty


def comparison_rows(all_facts: Sequence[Facts]) -> list[dict[str, Any]]:
    """Best trial per (dataset, loss) over all experiments (loss taken from each trial's config)."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for f in all_facts:
        dataset = dataset_name(f.exp)
        for _, r in f.ranked.iterrows():
            loss = str(r.get("config.loss", "?"))
            key = (dataset, loss)
            if key in best and not is_better(float(r.get("recall@20") or 0), best[key]["best Recall@20"], "max"):
                continue
            n = int((f.table.get("config.loss", pd.Series(dtype=str)).astype(str) == loss).sum())
            best[key] = {
                "dataset": dataset,
                "loss": loss,
                "experiment": f.exp.name,
                "best Recall@20": float(r.get("recall@20") or 0),
                "best MRR@20": r.get("mrr@20"),
                "s/epoch": r.get("seconds_per_epoch"),
                "p99 ms": r.get("p99_ms"),
                "trials": n,
                "status": f.exp.search.get("status", "unknown"),
            }
        if not len(f.ranked):
            best[(dataset, "?")] = {
                "dataset": dataset,
                "loss": "?",
                "experiment": f.exp.name,
                "trials": len(f.table),
                "status": f"{f.exp.search.get('status', 'unknown')} (no scored trial)",
            }
    return [best[k] for k in sorted(best)]


def dataset_name(exp: Experiment) -> str:
    """A short dataset label: 'synthetic', the train file's folder (data/rr/... -> rr), else the spec name's prefix."""
    data = exp.spec.get("data") or {}
    if isinstance(data, dict) and data.get("synthetic"):
        return "synthetic"
    train = data.get("train") if isinstance(data, dict) else None
    if train:
        path = Path(str(train))
        return path.parent.name or path.stem
    return exp.name.split("_")[0]
