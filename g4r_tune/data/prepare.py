"""Raw RetailRocket / Yoochoose logs -> the four GRU4Rec split TSVs + a JSON summary (the authors' protocol).

Raw files are read in chunks with explicit dtypes and reduced at once to numeric arrays (no per-row Python
objects survive a chunk), so the full 33M-row yoochoose-clicks.dat stays far below 8 GB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from g4r_tune.data.loader import ITEM, SESSION, TIME, datetime_to_seconds
from g4r_tune.data.splits import ProgressFn, SplitConfig, SplitPaths, make_splits, write_splits
from g4r_tune.errors import ConfigError, DataError, must_be

DATASETS: dict[str, float] = {"retailrocket": 7.0, "yoochoose": 1.0}  # dataset -> default test/valid days
CHUNK_ROWS = 2_000_000
_RR_COLUMNS = ("timestamp", "visitorid", "event", "itemid")


@dataclass(frozen=True)
class PrepareConfig:
    """Options of `data prepare`; ``None`` days mean the dataset's default (RetailRocket 7, Yoochoose 1)."""

    dataset: str
    test_days: float | None = None
    valid_days: float | None = None
    min_item_support: int = 5
    session_gap: float = 3600.0  # seconds; RetailRocket only (Yoochoose has session ids)
    dedup: bool = True

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(must_be("dataset", self.dataset, f"one of {', '.join(DATASETS)}"))
        if isinstance(self.session_gap, bool) or not isinstance(self.session_gap, int | float):
            raise ConfigError(must_be("session_gap", self.session_gap, "a number of seconds > 0"))
        if not self.session_gap > 0:
            raise ConfigError(must_be("session_gap", self.session_gap, "a number of seconds > 0"))
        self.split_config()  # validates the rest

    def split_config(self) -> SplitConfig:
        default = DATASETS[self.dataset]
        return SplitConfig(
            test_days=default if self.test_days is None else self.test_days,
            valid_days=default if self.valid_days is None else self.valid_days,
            min_item_support=self.min_item_support,
            dedup=self.dedup,
        )


def prepare(
    raw_path: str | Path,
    outdir: str | Path,
    config: PrepareConfig,
    *,
    name: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[SplitPaths, dict[str, Any]]:
    """Run the protocol on a raw file and write ``<name>_{train_full,test,train_tr,train_valid}.tsv`` + summary."""
    raw_path = Path(raw_path)
    if not raw_path.is_file():
        raise DataError(f"{raw_path}: file not found")
    if raw_path.stat().st_size == 0:
        raise DataError(f"{raw_path}: file is empty")
    reader = read_retailrocket if config.dataset == "retailrocket" else read_yoochoose
    raw = [reader(raw_path, config, progress)]
    raw_counts = raw[0][1]
    if len(raw[0][0]) == 0:
        raise DataError(f"{raw_path}: no usable events (no item views)")
    # hand the only reference to make_splits, so the raw table is freed once filtered (peak memory)
    tables, split_summary = make_splits(raw.pop()[0], config.split_config(), progress)
    summary = {
        "source": config.dataset,
        "raw_file": str(raw_path),
        "config": asdict(config) | asdict(config.split_config()),
        "raw": raw_counts,
        **split_summary,
    }
    paths = write_splits(tables, summary, outdir, name or config.dataset, progress)
    return paths, summary


def read_retailrocket(
    path: Path, config: PrepareConfig, progress: ProgressFn | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """RetailRocket events.csv -> view events with session ids from a ``session_gap`` split of all event types."""
    header = _first_line(path).split(",")
    missing = [c for c in _RR_COLUMNS if c not in [h.strip() for h in header]]
    if missing:
        raise DataError(
            f"{path}: line 1: missing column {missing[0]!r}; a RetailRocket events.csv has the header "
            "timestamp,visitorid,event,itemid,transactionid"
        )
    dtypes = {"timestamp": np.int64, "visitorid": np.int64, "event": "category", "itemid": np.int64}
    parts: list[tuple[np.ndarray, ...]] = []
    for chunk in _chunks(path, progress, sep=",", header=0, usecols=list(_RR_COLUMNS), dtype=dtypes):
        parts.append(
            (
                chunk["timestamp"].to_numpy(np.int64),
                chunk["visitorid"].to_numpy(np.int64),
                chunk["itemid"].to_numpy(np.int64),
                (chunk["event"] == "view").to_numpy(bool),
            )
        )
    millis, visitor, item, is_view = (np.concatenate(col) for col in zip(*parts, strict=True))
    del parts
    order = np.lexsort((millis, visitor))
    millis, visitor, item, is_view = millis[order], visitor[order], item[order], is_view[order]
    del order
    # a new session starts at a new visitor or after a gap longer than session_gap, over *all* event types
    new_session = np.r_[True, (visitor[1:] != visitor[:-1]) | (np.diff(millis) > config.session_gap * 1000.0)]
    session = np.cumsum(new_session)
    raw_counts = {
        "rows": int(len(millis)),
        "visitors": int(np.count_nonzero(np.r_[True, visitor[1:] != visitor[:-1]])),
        "sessions_all_event_types": int(session[-1]) if len(session) else 0,
        "view_events": int(np.count_nonzero(is_view)),
    }
    events = pd.DataFrame({SESSION: session[is_view], ITEM: item[is_view], TIME: millis[is_view] / 1000.0})
    return events, raw_counts


def read_yoochoose(
    path: Path, config: PrepareConfig, progress: ProgressFn | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """yoochoose-clicks.dat (SessionID,Timestamp ISO-8601,ItemID,Category; no header) -> events in seconds."""
    first = _first_line(path).split(",")
    if len(first) < 3:
        raise DataError(f"{path}: line 1: expected SessionID,Timestamp,ItemID,Category separated by commas")
    header = 0 if not first[0].strip().lstrip("-").isdigit() else None  # tolerate a header line
    names = ["session", "timestamp", "item"]
    dtypes = {"session": np.int64, "timestamp": str, "item": np.int64}
    parts: list[tuple[np.ndarray, ...]] = []
    line = 1 + (header is not None)
    for chunk in _chunks(path, progress, sep=",", header=header, names=names, usecols=[0, 1, 2], dtype=dtypes):
        stamps = pd.to_datetime(chunk["timestamp"], format="ISO8601", utc=True, errors="coerce")
        bad = stamps.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                f"{path}: line {line + row}, column 2 (Timestamp): {chunk['timestamp'].iloc[row]!r} "
                "is not an ISO-8601 time"
            )
        seconds = datetime_to_seconds(stamps)
        parts.append((chunk["session"].to_numpy(np.int64), chunk["item"].to_numpy(np.int64), seconds))
        line += len(chunk)
    session, item, seconds = (np.concatenate(col) for col in zip(*parts, strict=True))
    del parts
    order = np.lexsort((seconds, session))  # sorted here, the split step needs no second copy
    session, item, seconds = session[order], item[order], seconds[order]
    del order
    raw_counts = {"rows": int(len(session)), "sessions": int(len(np.unique(session)))}
    return pd.DataFrame({SESSION: session, ITEM: item, TIME: seconds}), raw_counts


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.readline().rstrip("\r\n")


def _chunks(path: Path, progress: ProgressFn | None, **read_kwargs: Any):
    """Yield DataFrame chunks, reporting bytes read; malformed values become a DataError naming the line."""
    total = path.stat().st_size
    with open(path, "rb") as handle:
        try:
            reader = pd.read_csv(handle, chunksize=CHUNK_ROWS, engine="c", **read_kwargs)
            first_line = 2 if read_kwargs.get("header") == 0 else 1
            for chunk in reader:
                if chunk.isna().any().any():
                    row, column = _first_missing(chunk)
                    raise DataError(f"{path}: line {first_line + row}, column {column!r}: empty or NaN value")
                first_line += len(chunk)
                yield chunk
                if progress:
                    progress("reading", handle.tell(), total)
        except (ValueError, TypeError, OverflowError) as err:
            _diagnose(path, read_kwargs)  # raises naming the line
            raise DataError(f"{path}: a value near line {first_line} could not be read: {err}") from None
        except pd.errors.ParserError as err:
            raise DataError(f"{path}: malformed file: {err}") from None


def _first_missing(chunk: pd.DataFrame) -> tuple[int, str]:
    mask = chunk.isna().to_numpy()
    flat = int(np.argmax(mask.any(axis=1)))
    return flat, str(chunk.columns[int(np.argmax(mask[flat]))])


def _diagnose(path: Path, read_kwargs: dict[str, Any]) -> None:
    """Slow path after a failed typed read: re-read as text and raise on the first non-integer value."""
    int_columns = [c for c, t in read_kwargs["dtype"].items() if t is np.int64]
    text_kwargs = read_kwargs | {"dtype": str, "keep_default_na": False}
    first_line = 2 if read_kwargs.get("header") == 0 else 1
    for chunk in pd.read_csv(path, chunksize=CHUNK_ROWS, engine="c", **text_kwargs):
        for column in int_columns:
            values = chunk[column].str.strip()
            numbers = pd.to_numeric(values, errors="coerce")
            bad = (numbers.isna() | (numbers != numbers.round())).to_numpy()
            if bad.any():
                row = int(np.argmax(bad))
                what = "empty value" if values.iloc[row] == "" else f"{values.iloc[row]!r} is not an integer"
                raise DataError(f"{path}: line {first_line + row}, column {column!r}: {what}")
        first_line += len(chunk)
