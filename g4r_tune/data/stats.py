"""Dataset statistics (pure): sizes, session lengths, item-popularity skew and time span of an event table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from g4r_tune.data.loader import ITEM, SESSION, TIME
from g4r_tune.data.splits import DAY, utc


@dataclass(frozen=True)
class DatasetStats:
    """What a click log looks like; ``to_dict`` is the JSON form written by `data stats --json`."""

    name: str
    events: int
    sessions: int
    items: int
    next_item_predictions: int
    session_length_mean: float
    session_length_median: float
    session_length_max: int
    top1pct_items_event_share: float
    top10pct_items_event_share: float
    item_gini: float
    max_item_support: int
    min_item_support: int
    power_law_exponent: float  # alpha of P(item count = x) ~ x^-alpha (discrete MLE, x_min = smallest count)
    start_utc: str
    end_utc: str
    span_days: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ItemOverlap:
    """Items of ``other`` that ``reference`` lacks (e.g. test items unseen in training)."""

    reference: str
    other: str
    new_items: int
    new_items_share: float  # of other's distinct items
    new_item_events_share: float  # of other's events

    def to_dict(self) -> dict:
        return asdict(self)


def item_counts(events: pd.DataFrame) -> np.ndarray:
    """Events per item, most frequent first."""
    return np.sort(events[ITEM].value_counts(sort=False).to_numpy(np.int64))[::-1]


def session_lengths(events: pd.DataFrame) -> np.ndarray:
    return events[SESSION].value_counts(sort=False).to_numpy(np.int64)


def top_share(counts_desc: np.ndarray, fraction: float) -> float:
    """Share of events on the top ``fraction`` of items (at least one item)."""
    if counts_desc.sum() == 0:
        return 0.0
    k = max(1, math.ceil(fraction * len(counts_desc)))
    return float(counts_desc[:k].sum() / counts_desc.sum())


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of the item counts (0 = uniform popularity, -> 1 = all events on one item)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def power_law_exponent(counts: np.ndarray) -> float:
    """Discrete power-law MLE (Clauset et al. 2009 approximation) with x_min = the smallest count."""
    x = np.asarray(counts, dtype=np.float64)
    if len(x) == 0:
        return float("nan")
    x_min = x.min()
    log_sum = np.sum(np.log(x / (x_min - 0.5)))
    return float(1.0 + len(x) / log_sum) if log_sum > 0 else float("nan")


def dataset_stats(events: pd.DataFrame, name: str = "") -> DatasetStats:
    """Statistics of an event table with columns SessionId, ItemId, Time (seconds)."""
    counts = item_counts(events)
    lengths = session_lengths(events)
    time = events[TIME].to_numpy(np.float64)
    start, end = (float(time.min()), float(time.max())) if len(time) else (0.0, 0.0)
    return DatasetStats(
        name=name,
        events=int(len(events)),
        sessions=int(len(lengths)),
        items=int(len(counts)),
        next_item_predictions=int(len(events) - len(lengths)),
        session_length_mean=round(float(lengths.mean()), 4) if len(lengths) else 0.0,
        session_length_median=float(np.median(lengths)) if len(lengths) else 0.0,
        session_length_max=int(lengths.max(initial=0)),
        top1pct_items_event_share=round(top_share(counts, 0.01), 4),
        top10pct_items_event_share=round(top_share(counts, 0.10), 4),
        item_gini=round(gini(counts), 4),
        max_item_support=int(counts.max(initial=0)),
        min_item_support=int(counts[-1]) if len(counts) else 0,
        power_law_exponent=round(power_law_exponent(counts), 4),
        start_utc=utc(start),
        end_utc=utc(end),
        span_days=round((end - start) / DAY, 2),
    )


def item_overlap(reference: pd.DataFrame, other: pd.DataFrame, names: tuple[str, str] = ("", "")) -> ItemOverlap:
    """How many of ``other``'s items (and what share of its events) ``reference`` does not have."""
    unseen = ~other[ITEM].isin(pd.unique(reference[ITEM]))
    other_items = other[ITEM].nunique()
    new_items = int(other.loc[unseen, ITEM].nunique())
    return ItemOverlap(
        reference=names[0],
        other=names[1],
        new_items=new_items,
        new_items_share=round(new_items / other_items, 4) if other_items else 0.0,
        new_item_events_share=round(float(unseen.mean()), 4) if len(other) else 0.0,
    )
