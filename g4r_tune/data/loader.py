"""Read click logs (GRU4Rec TSV, CSV, Parquet) into validated event tables and into ``SessionData``.

The fast path reads with explicit dtypes and pandas' C engine; only when that fails do we re-read the offending
column as text to name the first bad line, so good files never pay for the diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from g4r_tune.data.sessions import ItemIndex, SessionData, is_grouped_and_time_ordered
from g4r_tune.errors import DataError

SESSION, ITEM, TIME = "SessionId", "ItemId", "Time"  # canonical column names inside g4r-tune
FORMATS: tuple[str, ...] = ("auto", "tsv", "csv", "parquet")


@dataclass(frozen=True)
class ColumnNames:
    """Names of the session, item and time columns in an input file (GRU4Rec's by default)."""

    session: str = SESSION
    item: str = ITEM
    time: str = TIME

    def __post_init__(self) -> None:
        names = (self.session, self.item, self.time)
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != 3:
            raise DataError(f"column names must be three distinct non-empty strings, got {names}")


@dataclass(frozen=True)
class LoadResult:
    """A loaded file: the sessions, how many events had items unknown to the given index, and notes for the user."""

    data: SessionData
    n_dropped_unknown: int = 0
    notes: list[str] = field(default_factory=list)
    n_dropped_short_sessions: int = 0  # sessions left with < 2 events (no next-item prediction), dropped


def detect_format(path: Path, fmt: str = "auto") -> str:
    """``tsv``/``csv``/``parquet`` from ``fmt`` or, for ``auto``, from the extension or the first line."""
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    with open(path, "rb") as handle:
        first = handle.readline()
    if first.startswith(b"PAR1"):
        return "parquet"
    return "csv" if b"," in first and b"\t" not in first else "tsv"


def read_events(path: str | Path, *, columns: ColumnNames = ColumnNames(), fmt: str = "auto") -> pd.DataFrame:
    """Validated events as a DataFrame with columns SessionId (int64), ItemId (int64 or str), Time (float64 s).

    Raises ``DataError`` naming the file and the line/column for: a missing or empty file, a missing column,
    a non-numeric time, a session id that is not an integer, or an empty/NaN value. Row order is kept.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    kind = detect_format(path, fmt)
    wanted = [columns.session, columns.item, columns.time]
    if kind == "parquet":
        frame = _read_parquet(path, wanted)
    else:
        frame = _read_text(path, wanted, "\t" if kind == "tsv" else ",")
    if len(frame) == 0:
        raise DataError(f"{path}: no events (the file has a header but no rows)")
    frame.columns = [SESSION, ITEM, TIME]
    _check_values(path, frame, wanted, header_lines=0 if kind == "parquet" else 1)
    return frame


def load_sessions(
    path: str | Path,
    item_index: ItemIndex | None = None,
    *,
    columns: ColumnNames = ColumnNames(),
    fmt: str = "auto",
) -> LoadResult:
    """Load a click log as ``SessionData``.

    With ``item_index=None`` the index is built from this file (training data). Otherwise events whose item is
    not in ``item_index`` are dropped and counted in ``n_dropped_unknown``. Sessions with fewer than 2 events
    (after that drop) give no next-item prediction; they are dropped and counted in ``n_dropped_short_sessions``
    and in ``notes``, so evaluation sees only sessions it can score.
    """
    frame = read_events(path, columns=columns, fmt=fmt)
    return sessions_from_frame(frame, item_index, source=str(path))


def sessions_from_frame(frame: pd.DataFrame, item_index: ItemIndex | None = None, *, source: str = "") -> LoadResult:
    """``load_sessions`` for an already validated event table (columns SessionId, ItemId, Time)."""
    notes: list[str] = []
    session_ids = frame[SESSION].to_numpy(np.int64)
    times = frame[TIME].to_numpy(np.float64)
    items = frame[ITEM].to_numpy()
    if not is_grouped_and_time_ordered(session_ids, times):
        notes.append(f"{source}: input was not sorted by session and time; sorted it")
    if item_index is None:
        item_index = ItemIndex.from_ids(items)
    dense, known = item_index.encode(items)
    n_unknown = int(len(known) - np.count_nonzero(known))
    if n_unknown:
        notes.append(f"{source}: dropped {n_unknown:,} events whose item is not in the item index")
        session_ids, dense, times = session_ids[known], dense[known], times[known]
    data = SessionData.from_arrays(session_ids, dense, times, item_index)
    lengths = data.session_lengths
    short = lengths < 2
    n_short = int(np.count_nonzero(short))
    if n_short:
        notes.append(
            f"{source}: dropped {n_short:,} sessions with fewer than 2 events "
            f"({int(lengths[short].sum()):,} events; they give no next-item prediction)"
        )
        data = _drop_sessions(data, short)
    return LoadResult(data, n_unknown, notes, n_short)


def datetime_to_seconds(stamps: pd.Series) -> np.ndarray:
    """Seconds since the Unix epoch (UTC for naive times), exact to the microsecond.

    pandas 3 datetimes keep their parsed unit (often us or ms, not ns); going through integer microseconds avoids
    both unit mistakes and the float rounding of nanosecond counts (1.4e18 ns is not exact in float64).
    """
    micros = stamps.dt.as_unit("us")
    if micros.dt.tz is not None:
        micros = micros.dt.tz_convert("UTC").dt.tz_localize(None)
    return micros.to_numpy().view(np.int64) / 1e6


def _drop_sessions(data: SessionData, drop: np.ndarray) -> SessionData:
    keep_events = np.repeat(~drop, data.session_lengths)
    kept_lengths = data.session_lengths[~drop]
    offsets = np.r_[0, np.cumsum(kept_lengths)].astype(np.int64)
    return SessionData(
        data.items[keep_events], offsets, data.times[keep_events], data.session_ids[~drop], data.item_index
    )


def _read_header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().rstrip("\r\n")
    return [name.strip() for name in first.split(sep)]


def _read_text(path: Path, wanted: list[str], sep: str) -> pd.DataFrame:
    header = _read_header(path, sep)
    _check_columns(path, header, wanted, sep)
    session, item, time = wanted
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            usecols=wanted,
            dtype={session: np.int64, time: np.float64},
            engine="c",
            skipinitialspace=True,
        )
    except (ValueError, TypeError, OverflowError):
        _diagnose_text(path, wanted, sep)  # raises a DataError naming the line
        raise
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: malformed file: {err}") from None
    return frame[wanted]


def _read_parquet(path: Path, wanted: list[str]) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is part of the environment
        raise DataError(f"{path}: reading Parquet needs pyarrow (`pip install pyarrow`)") from None
    try:
        schema_names = pq.read_schema(path).names
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: not a readable Parquet file: {err}") from None
    _check_columns(path, schema_names, wanted, None)
    frame = pd.read_parquet(path, columns=wanted)
    return frame[wanted]


def _check_columns(path: Path, header: list[str], wanted: list[str], sep: str | None) -> None:
    for position, name in enumerate(wanted):
        if name not in header:
            hint = ""
            if sep is not None and len(header) == 1:
                other = "comma" if sep == "\t" else "tab"
                hint = f" (the header has a single column: is the file {other}-separated? try --format)"
            role = ("session", "item", "time")[position]
            raise DataError(
                f"{path}: line 1: missing {role} column {name!r}; the columns are {', '.join(map(repr, header))}{hint}"
            )


def _diagnose_text(path: Path, wanted: list[str], sep: str) -> None:
    """Re-read as text and raise a DataError naming the first bad value of the session or time column."""
    raw = pd.read_csv(path, sep=sep, usecols=wanted, dtype=str, keep_default_na=False, engine="c")
    _check_values(path, raw[wanted].set_axis([SESSION, ITEM, TIME], axis=1), wanted, header_lines=1)


def _check_values(path: Path, frame: pd.DataFrame, wanted: list[str], header_lines: int) -> None:
    """Raise on the first empty/NaN value, non-integer session id or non-numeric time (1-based file line)."""

    def fail(row: int, column: str, what: str) -> None:
        where = f"line {row + 1 + header_lines}" if header_lines else f"row {row}"
        raise DataError(f"{path}: {where}, column {column!r}: {what}")

    for canonical, name in zip((SESSION, ITEM, TIME), wanted, strict=True):
        col = frame[canonical]
        if canonical == TIME and col.dtype.kind == "M":  # Parquet timestamps: seconds since the epoch
            frame[TIME] = datetime_to_seconds(col)
            col = frame[TIME]
        is_text = col.dtype.kind in "OUST" or str(col.dtype) in ("str", "string")
        missing = col.isna().to_numpy()
        if is_text:
            text = col.astype(str).str.strip().str.lower()
            missing = missing | text.isin(["", "nan", "na", "null", "none"]).to_numpy()
        if missing.any():
            fail(int(np.argmax(missing)), name, "empty or NaN value")
        if canonical == ITEM:
            continue
        if is_text or col.dtype.kind not in "iuf":
            numeric = pd.to_numeric(col, errors="coerce")
            bad = numeric.isna().to_numpy()
            if bad.any():
                row = int(np.argmax(bad))
                what = "session id {!r} is not an integer" if canonical == SESSION else "time {!r} is not a number"
                fail(row, name, what.format(col.iloc[row]))
            values = numeric.to_numpy(np.float64)
        else:
            values = col.to_numpy(np.float64)
        if canonical == TIME and not np.all(np.isfinite(values)):
            fail(int(np.argmax(~np.isfinite(values))), name, "time is not finite")
        if canonical == SESSION and col.dtype.kind not in "iu":
            fractional = values != np.round(values)
            if fractional.any():
                row = int(np.argmax(fractional))
                fail(row, name, f"session id {col.iloc[row]} is not an integer")
            frame[SESSION] = values.astype(np.int64)
        if canonical == TIME and col.dtype.kind != "f":
            frame[TIME] = values
    if frame[ITEM].dtype.kind == "f":  # e.g. floats like 12.0: ids are integers when all are integral
        values = frame[ITEM].to_numpy()
        if np.all(values == np.round(values)):
            frame[ITEM] = values.astype(np.int64)
