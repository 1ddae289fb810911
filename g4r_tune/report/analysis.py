"""The report's analyses as pure functions over trial records / tables (no I/O, no plotting)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from g4r_tune.report.reader import Experiment, TrialResult

CUTOFFS: tuple[int, ...] = (1, 5, 10, 20)
METRIC_COLUMNS: tuple[str, ...] = tuple(f"{m}@{k}" for m in ("recall", "mrr") for k in CUTOFFS)

# Student t 0.975 quantiles for 1..30 degrees of freedom (two-sided 95% interval); beyond 30 the normal 1.96.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def is_better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def best_epoch_row(history: Sequence[dict[str, Any]], metric: str, mode: str) -> dict[str, Any] | None:
    """The epoch row with the best ``metric`` (the earliest one on ties)."""
    best = None
    for row in history:
        value = row.get(metric)
        if value is None or not math.isfinite(float(value)):
            continue
        if best is None or is_better(float(value), float(best[metric]), mode):
            best = row
    return best


def trials_table(exp: Experiment) -> pd.DataFrame:
    """One row per trial: status, epochs, best value of every metric (at the epoch best for the search metric),
    that epoch, seconds per epoch, training seconds, error, and the flat config as ``config.<name>`` columns."""
    rows = []
    for order, trial in enumerate(exp.trials):
        best = best_epoch_row(trial.history, exp.metric, exp.mode)
        seconds = [float(r.get("epoch_seconds", 0.0) or 0.0) for r in trial.history]
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "order": order,
            "status": trial.status,
            "stopped_early": trial.stopped_early,
            "epochs": trial.epochs,
            "best_epoch": int(best.get("epoch", best.get("training_iteration", 0))) if best else None,
            "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
            "train_seconds": float(np.sum(seconds)) if seconds else None,
            "error": trial.error,
        }
        for col in METRIC_COLUMNS:
            row[col] = float(best[col]) if best is not None and best.get(col) is not None else None
        if exp.metric not in row:
            row[exp.metric] = float(best[exp.metric]) if best is not None else None
        for key, value in trial.config.items():
            if isinstance(value, list | tuple):  # layers: one size as a number, stacks as the reference's "a/b"
                value = value[0] if len(value) == 1 else "/".join(map(str, value))
            row[f"config.{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def rank_trials(table: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Trials with a finite metric value, best first (ties: earlier trial first)."""
    scored = table[table[metric].notna() & (table["status"] != "ERROR")]
    return scored.sort_values([metric, "order"], ascending=[mode != "max", True], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Budget:
    n_trials: int
    n_completed: int
    n_stopped_early: int
    n_errored: int
    epochs_run: int
    epochs_full: int  # every trial run to max_epochs, no early stopping
    wall_seconds: float | None
    train_seconds: float

    @property
    def epochs_saved_fraction(self) -> float:
        return 1.0 - self.epochs_run / self.epochs_full if self.epochs_full else 0.0


def budget(exp: Experiment, table: pd.DataFrame) -> Budget:
    wall = exp.search.get("wall_seconds")
    return Budget(
        n_trials=len(table),
        n_completed=int((table["status"] == "TERMINATED").sum()) if len(table) else 0,
        n_stopped_early=int(table["stopped_early"].sum()) if len(table) else 0,
        n_errored=int((table["status"] == "ERROR").sum()) if len(table) else 0,
        epochs_run=int(table["epochs"].sum()) if len(table) else 0,
        epochs_full=len(table) * exp.max_epochs,
        wall_seconds=float(wall) if wall is not None else None,
        train_seconds=float(table["train_seconds"].fillna(0).sum()) if len(table) else 0.0,
    )


@dataclass(frozen=True)
class Convergence:
    """Where a trial's curve came within ``tolerance`` (relative) of its best value."""

    trial_id: str
    best_epoch: int
    best_value: float
    first_epoch: int  # first epoch within tolerance of the best
    value_at_first: float
    epochs_run: int
    seconds_total: float
    seconds_to_first: float

    @property
    def seconds_saved(self) -> float:
        return self.seconds_total - self.seconds_to_first

    @property
    def fraction_saved(self) -> float:
        return self.seconds_saved / self.seconds_total if self.seconds_total > 0 else 0.0

    @property
    def relative_loss(self) -> float:
        """How much worse the value at ``first_epoch`` is than the best, relative to the best."""
        return abs(self.best_value - self.value_at_first) / abs(self.best_value) if self.best_value else 0.0


def convergence(trial: TrialResult, metric: str, mode: str, tolerance: float = 0.001) -> Convergence | None:
    """First epoch whose ``metric`` is within ``tolerance`` x |best| of the trial's best, and the time after it."""
    rows = [r for r in trial.history if r.get(metric) is not None and math.isfinite(float(r[metric]))]
    best = best_epoch_row(rows, metric, mode)
    if best is None:
        return None
    best_value = float(best[metric])
    slack = tolerance * abs(best_value)
    first = next(
        r
        for r in rows
        if (float(r[metric]) >= best_value - slack if mode == "max" else float(r[metric]) <= best_value + slack)
    )
    seconds = [float(r.get("epoch_seconds", 0.0) or 0.0) for r in trial.history]
    first_index = trial.history.index(first)
    return Convergence(
        trial_id=trial.trial_id,
        best_epoch=_epoch(best),
        best_value=best_value,
        first_epoch=_epoch(first),
        value_at_first=float(first[metric]),
        epochs_run=len(trial.history),
        seconds_total=float(sum(seconds)),
        seconds_to_first=float(sum(seconds[: first_index + 1])),
    )


def asha_rungs(max_epochs: int, grace_period: int, reduction_factor: float) -> list[int]:
    """ASHA milestones: grace * rf^k below max_epochs."""
    rungs, t = [], float(max(grace_period, 1))
    while t < max_epochs and reduction_factor > 1:
        rungs.append(int(t))
        t *= reduction_factor
    return rungs


def early_stopping_by_rung(table: pd.DataFrame, rungs: Sequence[int], max_epochs: int) -> pd.DataFrame:
    """Per ASHA rung: trials that reached it, trials ASHA stopped there, and the epochs that saved."""
    rows = []
    stopped = table[table["stopped_early"].astype(bool)] if len(table) else table
    for i, rung in enumerate(rungs):
        upper = rungs[i + 1] if i + 1 < len(rungs) else max_epochs
        at_rung = stopped[(stopped["epochs"] >= rung) & (stopped["epochs"] < upper)] if len(stopped) else stopped
        rows.append(
            {
                "rung (epoch)": rung,
                "trials reaching it": int((table["epochs"] >= rung).sum()) if len(table) else 0,
                "stopped here": len(at_rung),
                "epochs saved": int((max_epochs - at_rung["epochs"]).sum()) if len(at_rung) else 0,
            }
        )
    return pd.DataFrame(rows, columns=["rung (epoch)", "trials reaching it", "stopped here", "epochs saved"])


def best_so_far(values: Sequence[float | None], mode: str) -> list[float | None]:
    """Running best over trials in order (None until the first scored trial; None values do not count)."""
    out: list[float | None] = []
    current: float | None = None
    for v in values:
        if (
            v is not None
            and not (isinstance(v, float) and math.isnan(v))
            and (current is None or is_better(v, current, mode))
        ):
            current = float(v)
        out.append(current)
    return out


def pareto_front(latency: Sequence[float], quality: Sequence[float], mode: str = "max") -> list[bool]:
    """Points not dominated by another (lower-or-equal latency and better-or-equal quality, one strictly)."""
    lat = np.asarray(latency, dtype=float)
    q = np.asarray(quality, dtype=float) * (1.0 if mode == "max" else -1.0)
    front = []
    for i in range(len(lat)):
        dominated = np.any((lat <= lat[i]) & (q >= q[i]) & ((lat < lat[i]) | (q > q[i])))
        front.append(not bool(dominated))
    return front


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its two-sided 95% Student-t interval (NaN for a single value: no interval)."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return math.nan, math.nan
    if len(arr) == 1:
        return float(arr[0]), math.nan
    df = len(arr) - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96
    return float(arr.mean()), float(t * arr.std(ddof=1) / math.sqrt(len(arr)))


def latency_choice(
    table: pd.DataFrame, metric: str, mode: str, budget_ms: float, p99_column: str = "p99_ms"
) -> tuple[pd.Series | None, pd.Series | None]:
    """(best overall with a latency figure, best among those within the p99 budget)."""
    measured = rank_trials(table[table[p99_column].notna()], metric, mode) if p99_column in table else table.iloc[0:0]
    if len(measured) == 0:
        return None, None
    within = measured[measured[p99_column] <= budget_ms]
    return measured.iloc[0], (within.iloc[0] if len(within) else None)


def _epoch(row: dict[str, Any]) -> int:
    return int(row.get("epoch", row.get("training_iteration", 0)) or 0)
