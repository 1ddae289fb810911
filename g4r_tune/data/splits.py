"""The GRU4Rec split protocol shared by `data prepare` and the synthetic generator.

Cleaning: drop consecutive repeats of an item inside a session (optional), sessions shorter than
``min_session_length`` and items with fewer than ``min_item_support`` events, repeated until nothing changes.
Splitting: test = sessions that *start* within the last ``test_days`` before the last event; train_full = the rest,
cleaned again so every train item keeps its support; test events whose item is not in train_full are removed,
then repeats and short test sessions. The same rule inside train_full (``valid_days``) gives train_tr/train_valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from g4r_tune.data.loader import ITEM, SESSION, TIME
from g4r_tune.errors import ConfigError, DataError, must_be

DAY = 86_400.0
SPLIT_NAMES: tuple[str, ...] = ("train_full", "test", "train_tr", "train_valid")
ProgressFn = Callable[[str, int, int | None], None]  # (stage, done, total or None)


@dataclass(frozen=True)
class SplitConfig:
    """Cleaning and time-split rule (the GRU4Rec authors' protocol)."""

    test_days: float = 1.0
    valid_days: float = 1.0
    min_item_support: int = 5
    min_session_length: int = 2
    dedup: bool = True

    def __post_init__(self) -> None:
        for name in ("test_days", "valid_days"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ConfigError(must_be(name, value, "a number of days > 0"))
        if isinstance(self.min_item_support, bool) or not isinstance(self.min_item_support, int):
            raise ConfigError(must_be("min_item_support", self.min_item_support, "an integer >= 1"))
        if self.min_item_support < 1:
            raise ConfigError(must_be("min_item_support", self.min_item_support, "an integer >= 1"))
        if isinstance(self.min_session_length, bool) or not isinstance(self.min_session_length, int):
            raise ConfigError(must_be("min_session_length", self.min_session_length, "an integer >= 2"))
        if self.min_session_length < 2:
            raise ConfigError(must_be("min_session_length", self.min_session_length, "an integer >= 2"))


@dataclass(frozen=True)
class SplitPaths:
    """The four GRU4Rec split files and the JSON summary written beside them."""

    train_full: Path
    test: Path
    train_tr: Path
    train_valid: Path
    summary: Path


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events grouped by session, in time order inside a session (stable for equal times)."""
    session, time = events[SESSION].to_numpy(), events[TIME].to_numpy()
    same = session[1:] == session[:-1]
    if np.all(session[1:] >= session[:-1]) and not np.any(same & (time[1:] < time[:-1])):
        return events.reset_index(drop=True)  # already sorted: no copy, no O(n log n) sort
    return events.iloc[np.lexsort((time, session))].reset_index(drop=True)


def _session_starts(session: np.ndarray) -> np.ndarray:
    """Boolean mask: True at the first event of each session (events grouped by session)."""
    return np.r_[True, session[1:] != session[:-1]] if len(session) else np.zeros(0, dtype=bool)


def _event_session_lengths(session: np.ndarray) -> np.ndarray:
    starts = np.flatnonzero(_session_starts(session))
    lengths = np.diff(np.r_[starts, len(session)])
    return np.repeat(lengths, lengths)


def repeat_mask(session: np.ndarray, item: np.ndarray) -> np.ndarray:
    """True for events that repeat the previous event's item in the same session."""
    if len(session) < 2:
        return np.zeros(len(session), dtype=bool)
    return np.r_[False, (session[1:] == session[:-1]) & (item[1:] == item[:-1])]


def clean(events: pd.DataFrame, config: SplitConfig) -> pd.DataFrame:
    """Repeat dedup / short-session / rare-item filtering until stable. ``events`` must be sorted (sort_events)."""
    session = events[SESSION].to_numpy()
    codes, _ = pd.factorize(events[ITEM])
    keep = np.ones(len(events), dtype=bool)
    while True:
        index = np.flatnonzero(keep)
        s, c = session[index], codes[index]
        drop = repeat_mask(s, c) if config.dedup else np.zeros(len(index), dtype=bool)
        lengths = _event_session_lengths(s[~drop])
        short = np.zeros(len(index), dtype=bool)
        short[np.flatnonzero(~drop)[lengths < config.min_session_length]] = True
        drop |= short
        support = np.bincount(c[~drop], minlength=int(codes.max(initial=-1)) + 1)
        drop |= support[c] < config.min_item_support
        if not drop.any():
            break
        keep[index[drop]] = False
    return events.loc[keep].reset_index(drop=True)


def split_by_session_start(events: pd.DataFrame, days: float) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(older, recent, split_time): recent = sessions whose first event is at or after ``max time - days``."""
    if len(events) == 0:
        raise DataError("no events are left to split (every session or item was filtered out)")
    session, time = events[SESSION].to_numpy(), events[TIME].to_numpy(np.float64)
    split_time = float(time.max()) - days * DAY
    starts = np.flatnonzero(_session_starts(session))
    lengths = np.diff(np.r_[starts, len(session)])
    recent = np.repeat(time[starts] >= split_time, lengths)
    return events.loc[~recent].reset_index(drop=True), events.loc[recent].reset_index(drop=True), split_time


def restrict_to_items(
    events: pd.DataFrame, items: pd.Series, config: SplitConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove events whose item is not in ``items``, then repeats (if dedup) and too short sessions."""
    known = events[ITEM].isin(pd.unique(items)).to_numpy()
    kept = events.loc[known].reset_index(drop=True)
    repeats = repeat_mask(kept[SESSION].to_numpy(), kept[ITEM].to_numpy()) if config.dedup else None
    n_repeats = 0
    if repeats is not None and repeats.any():
        n_repeats = int(repeats.sum())
        kept = kept.loc[~repeats].reset_index(drop=True)
    long_enough = _event_session_lengths(kept[SESSION].to_numpy()) >= config.min_session_length
    n_short_sessions = int(np.count_nonzero(_session_starts(kept[SESSION].to_numpy()) & ~long_enough))
    result = kept.loc[long_enough].reset_index(drop=True)
    counts = {
        "removed_unseen_item_events": int(len(events) - known.sum()),
        "removed_repeat_events": n_repeats,
        "dropped_short_sessions": n_short_sessions,
        "dropped_short_session_events": int(len(kept) - len(result)),
    }
    return result, counts


def counts(events: pd.DataFrame) -> dict[str, Any]:
    """Events, sessions, items and time range of an event table."""
    if len(events) == 0:
        return {"events": 0, "sessions": 0, "items": 0}
    time = events[TIME].to_numpy(np.float64)
    return {
        "events": int(len(events)),
        "sessions": int(events[SESSION].nunique()),
        "items": int(events[ITEM].nunique()),
        "start_utc": utc(float(time.min())),
        "end_utc": utc(float(time.max())),
    }


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def make_splits(
    events: pd.DataFrame, config: SplitConfig, progress: ProgressFn | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Clean and split ``events`` (columns SessionId, ItemId, Time; any order) into the four GRU4Rec splits.

    Returns the split tables (sorted by session then time) and a JSON-ready summary of every count.
    """
    report = progress or (lambda stage, done, total: None)
    report("sorting", 0, None)
    events = sort_events(events)
    summary: dict[str, Any] = {"protocol": asdict(config), "before_filtering": counts(events)}
    report("filtering", 0, None)
    filtered = clean(events, config)
    del events  # frees the unfiltered table when the caller passed it without keeping a reference
    summary["filtered"] = counts(filtered)
    report("splitting", 0, None)
    tables: dict[str, pd.DataFrame] = {}
    for train_name, test_name, days, split_key in (
        ("train_full", "test", config.test_days, "test"),
        ("train_tr", "train_valid", config.valid_days, "valid"),
    ):
        source = filtered if split_key == "test" else tables["train_full"]
        older, recent, split_time = split_by_session_start(source, days)
        train = clean(older, config)
        if len(train) == 0:
            raise DataError(
                f"no training data is left before the {split_key} split at {utc(split_time)} "
                f"(the data spans less than {days} days after filtering?)"
            )
        held_out, held_out_counts = restrict_to_items(recent, train[ITEM], config)
        tables[train_name], tables[test_name] = train, held_out
        summary[f"{split_key}_split_time"] = split_time
        summary[f"{split_key}_split_utc"] = utc(split_time)
        summary[f"{train_name}_recleaning"] = {
            "removed_events": int(len(older) - len(train)),
            "removed_sessions": int(older[SESSION].nunique() - train[SESSION].nunique()),
        }
        summary[f"{test_name}_restriction"] = held_out_counts
    summary["splits"] = {name: counts(tables[name]) for name in SPLIT_NAMES}
    return tables, summary


def write_tsv(events: pd.DataFrame, path: Path) -> None:
    """GRU4Rec TSV (SessionId, ItemId, Time in seconds), times in shortest round-trip form (``12`` not ``12.0``).

    pyarrow's C++ writer is ~10x faster than ``DataFrame.to_csv`` on float columns (millions of rows).
    """
    out = events[[SESSION, ITEM, TIME]]
    time = out[TIME].to_numpy(np.float64)
    if len(time) and np.all(time == np.round(time)) and np.abs(time).max() < 2**53:
        out = out.assign(**{TIME: time.astype(np.int64)})
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # pragma: no cover - pyarrow is part of the environment
        out.to_csv(path, sep="\t", index=False, lineterminator="\n")
        return
    options = pa_csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with open(path, "wb") as handle:
        handle.write(f"{SESSION}\t{ITEM}\t{TIME}\n".encode())
        try:
            pa_csv.write_csv(pa.Table.from_pandas(out, preserve_index=False), handle, options)
        except pa.ArrowInvalid as err:  # e.g. an item id containing a tab or a newline
            raise DataError(f"{path}: cannot write as TSV: {err}") from None


def write_splits(
    tables: dict[str, pd.DataFrame],
    summary: dict[str, Any],
    outdir: str | Path,
    name: str,
    progress: ProgressFn | None = None,
) -> SplitPaths:
    """Write ``<name>_<split>.tsv`` for the four splits and ``<name>_summary.json`` (with the file names)."""
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{outdir}: cannot create the output folder: {err}") from None
    paths = {split: outdir / f"{name}_{split}.tsv" for split in SPLIT_NAMES}
    for done, split in enumerate(SPLIT_NAMES):
        if progress:
            progress(f"writing {paths[split].name}", done, len(SPLIT_NAMES))
        write_tsv(tables[split], paths[split])
        summary["splits"][split]["file"] = paths[split].name
    summary_path = outdir / f"{name}_summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return SplitPaths(**paths, summary=summary_path)
