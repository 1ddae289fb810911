"""Fractions of a click log made of whole sessions: the most recent ones (like the classic 1/4 and 1/64 Yoochoose
subsets) or a seeded random choice, to measure the effect of data size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from g4r_tune.data.loader import SESSION, TIME, ColumnNames, read_events
from g4r_tune.data.splits import write_tsv
from g4r_tune.errors import ConfigError, DataError, must_be

MODES: tuple[str, ...] = ("recent", "random")


@dataclass(frozen=True)
class SubsetConfig:
    fraction: float
    mode: str = "recent"
    seed: int = 42

    def __post_init__(self) -> None:
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, int | float):
            raise ConfigError(must_be("fraction", self.fraction, "a number in (0, 1]"))
        if not 0 < self.fraction <= 1:
            raise ConfigError(must_be("fraction", self.fraction, "a number in (0, 1]"))
        if self.mode not in MODES:
            raise ConfigError(must_be("mode", self.mode, f"one of {', '.join(MODES)}"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(must_be("seed", self.seed, "an integer >= 0"))


def subset_events(events: pd.DataFrame, config: SubsetConfig) -> pd.DataFrame:
    """Keep ``ceil(fraction * n_sessions)`` whole sessions: the latest-starting ones, or a seeded random sample.

    Rows keep their input order.
    """
    starts = events.groupby(SESSION, sort=False)[TIME].min()
    n_keep = max(1, math.ceil(config.fraction * len(starts)))
    if config.mode == "recent":
        # latest starts; ties broken by session id so the result does not depend on row order
        frame = pd.DataFrame({"start": starts.to_numpy(), "sid": starts.index.to_numpy()})
        chosen = frame.sort_values(["start", "sid"], kind="stable")["sid"].to_numpy()[-n_keep:]
    else:
        ordered = np.sort(starts.index.to_numpy())
        chosen = np.random.default_rng(config.seed).choice(ordered, size=n_keep, replace=False)
    return events.loc[events[SESSION].isin(chosen)].reset_index(drop=True)


def write_subset(
    path: str | Path,
    out: str | Path,
    config: SubsetConfig,
    *,
    columns: ColumnNames | None = None,
    fmt: str = "auto",
) -> tuple[int, int, int, int]:
    """Write the subset of ``path`` to ``out`` (GRU4Rec TSV). Returns (sessions, events) before and after."""
    events = read_events(path, columns=columns or ColumnNames(), fmt=fmt)
    subset = subset_events(events, config)
    out = Path(out)
    if out.resolve() == Path(path).resolve():
        raise DataError(f"{out}: the output would overwrite the input")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_tsv(subset, out)
    return events[SESSION].nunique(), len(events), subset[SESSION].nunique(), len(subset)
