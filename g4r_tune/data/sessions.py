"""The in-memory form of a click log: dense item indices and session offsets, ordered by session start.

Everything downstream (batching, training, evaluation, latency) reads only these two classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from g4r_tune.errors import DataError


@dataclass(frozen=True)
class ItemIndex:
    """Maps original item ids (ints or strings) to dense indices ``0..n_items-1``, built on training data.

    ``ids[i]`` is the original id of dense index ``i``. Ids are kept as int64 when every id is an integer,
    else as strings, so that the index serialises to JSON without pickling.
    """

    ids: np.ndarray

    def __post_init__(self) -> None:
        if self.ids.ndim != 1:
            raise DataError("ItemIndex ids must be one-dimensional")
        if not pd.Index(self.ids).is_unique:  # hash-based: O(n), unlike sorting
            raise DataError("ItemIndex ids must be unique")

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def from_ids(cls, ids: np.ndarray) -> ItemIndex:
        """Index of the distinct ids, in sorted order (deterministic whatever the row order)."""
        values = _normalise_ids(np.asarray(ids))
        if values.dtype.kind == "i":  # hash the (many) events down to the (few) distinct ids before sorting
            return cls(np.sort(pd.unique(values)))
        return cls(np.unique(values))

    def encode(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices for ``ids`` and a mask of which were known (unknown ones get index -1)."""
        values = _normalise_ids(np.asarray(ids))
        if values.dtype.kind != self.ids.dtype.kind:
            values = values.astype(self.ids.dtype) if self.ids.dtype.kind == "U" else values
            if values.dtype.kind != self.ids.dtype.kind:  # string ids against an int index: none can match
                return np.full(len(values), -1, dtype=np.int64), np.zeros(len(values), dtype=bool)
        dense = pd.Index(self.ids).get_indexer(values).astype(np.int64)  # hash lookup; -1 where unknown
        return dense, dense >= 0

    def decode(self, idx: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(idx, dtype=np.int64)]

    def to_json(self) -> dict:
        kind = "int" if self.ids.dtype.kind in "iu" else "str"
        return {"kind": kind, "ids": self.ids.tolist()}

    @classmethod
    def from_json(cls, payload: dict) -> ItemIndex:
        try:
            dtype = np.int64 if payload["kind"] == "int" else np.str_
            return cls(np.asarray(payload["ids"], dtype=dtype))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"malformed item index: {err}") from None


def _normalise_ids(values: np.ndarray) -> np.ndarray:
    """int64 when every id is integral, else unicode strings."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values.astype(str)
    if values.dtype.kind == "U":
        return values
    return values.astype(str)


@dataclass(frozen=True)
class SessionData:
    """Sessions as flat arrays, sessions ordered by start time, events by time inside a session.

    ``items[offsets[s]:offsets[s+1]]`` are the dense item indices of session ``s``.
    """

    items: np.ndarray  # (n_events,) int64 dense item indices
    offsets: np.ndarray  # (n_sessions + 1,) int64, offsets[0] == 0, offsets[-1] == n_events
    times: np.ndarray  # (n_events,) float64 seconds
    session_ids: np.ndarray  # (n_sessions,) original session ids
    item_index: ItemIndex

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0:
            raise DataError("session offsets must start at 0")
        if self.offsets[-1] != len(self.items) or len(self.times) != len(self.items):
            raise DataError("session offsets, items and times disagree in length")
        if len(self.session_ids) != len(self.offsets) - 1:
            raise DataError("one session id per session is required")

    @property
    def n_events(self) -> int:
        return int(self.items.shape[0])

    @property
    def n_sessions(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def n_items(self) -> int:
        return len(self.item_index)

    @property
    def session_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_predictions(self) -> int:
        """Next-item predictions in one pass: every event but each session's last."""
        return self.n_events - self.n_sessions

    def item_support(self) -> np.ndarray:
        """(n_items,) number of events per item."""
        return np.bincount(self.items, minlength=self.n_items)

    @classmethod
    def from_arrays(
        cls,
        session_ids: np.ndarray,
        item_idx: np.ndarray,
        times: np.ndarray,
        item_index: ItemIndex,
    ) -> SessionData:
        """Build from per-event arrays (any order): groups by session, orders by time inside and across sessions."""
        session_ids = np.asarray(session_ids)
        item_idx = np.asarray(item_idx, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        n = len(item_idx)
        if n == 0:
            return cls(np.zeros(0, np.int64), np.zeros(1, np.int64), times[:0], session_ids[:0], item_index)
        if is_grouped_and_time_ordered(session_ids, times):  # the usual file order: skip the O(n log n) sort
            sid, itm, tim = session_ids, item_idx, times
        else:
            order = np.lexsort((times, session_ids))  # by session, then time (stable for equal times)
            sid, itm, tim = session_ids[order], item_idx[order], times[order]
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        lengths = np.diff(np.r_[starts, n])
        # order sessions by their first event's time (ties: by session id)
        session_order = np.lexsort((sid[starts], tim[starts]))
        if np.all(session_order[1:] > session_order[:-1]):
            offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
            return cls(itm, offsets, tim, sid[starts], item_index)
        new_starts, new_lengths = starts[session_order], lengths[session_order]
        take = np.repeat(new_starts - np.r_[0, np.cumsum(new_lengths)[:-1]], new_lengths) + np.arange(n)
        offsets = np.r_[0, np.cumsum(new_lengths)].astype(np.int64)
        return cls(itm[take], offsets, tim[take], sid[new_starts], item_index)


def is_grouped_and_time_ordered(session_ids: np.ndarray, times: np.ndarray) -> bool:
    """True when each session's events are contiguous and in non-decreasing time (GRU4Rec's file order)."""
    if len(session_ids) < 2:
        return True
    change = session_ids[1:] != session_ids[:-1]
    if np.any(~change & (times[1:] < times[:-1])):
        return False
    return bool(pd.Index(session_ids[np.r_[True, change]]).is_unique)
