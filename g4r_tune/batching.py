"""Session-parallel mini-batches: ``B`` lanes each walk one session; finished lanes take the next session.

Each step gives every lane's current item (input) and next item (target). A lane that takes a new session is
flagged in ``reset`` (its hidden state must be zeroed); when no sessions are left, finished lanes are dropped and
``keep`` says which of the previous step's lanes survive (hidden states shrink with it). Sessions shorter than two
events have nothing to predict and are skipped, so every non-last event is an input exactly once per pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from g4r_tune.data.sessions import SessionData


@dataclass(frozen=True)
class Step:
    """One mini-batch. Apply ``keep`` (if not None) to the previous hidden states, then zero the ``reset`` rows."""

    inputs: np.ndarray  # (n_lanes,) int64 item indices
    targets: np.ndarray  # (n_lanes,) int64 item indices
    reset: np.ndarray  # (n_lanes,) bool: lane starts a new session at this step
    keep: np.ndarray | None  # indices into the previous step's lanes, or None when no lane was dropped


class SessionBatches:
    """Iterable over the session-parallel steps of one pass through ``data``.

    ``min_lanes``: stop as soon as fewer lanes than this remain (training without extra samples uses 2, as a
    single lane has no in-batch negatives).
    """

    def __init__(self, data: SessionData, batch_size: int, min_lanes: int = 1) -> None:
        self.items = np.ascontiguousarray(data.items, dtype=np.int64)
        lengths = data.session_lengths
        usable = np.flatnonzero(lengths >= 2)
        self.starts = data.offsets[:-1][usable].astype(np.int64)
        self.ends = data.offsets[1:][usable].astype(np.int64)  # exclusive
        self.batch_size = int(batch_size)
        self.min_lanes = max(1, int(min_lanes))

    @property
    def n_predictions(self) -> int:
        return int((self.ends - self.starts - 1).sum())

    def __iter__(self) -> Iterator[Step]:
        n_sessions = len(self.starts)
        n_lanes = min(self.batch_size, n_sessions)
        if n_lanes < self.min_lanes or n_lanes == 0:
            return
        pos = self.starts[:n_lanes].copy()  # cursor: index of the lane's current (input) event
        end = self.ends[:n_lanes].copy()
        next_session = n_lanes
        reset = np.ones(n_lanes, dtype=bool)
        keep: np.ndarray | None = None
        items = self.items
        while True:
            yield Step(items[pos], items[pos + 1], reset, keep)
            pos += 1
            finished = pos + 1 >= end
            keep = None
            if not finished.any():
                reset = np.zeros(len(pos), dtype=bool)
                continue
            lanes = np.flatnonzero(finished)
            n_new = min(len(lanes), n_sessions - next_session)
            refill, drop = lanes[:n_new], lanes[n_new:]
            new = np.arange(next_session, next_session + n_new)
            pos[refill] = self.starts[new]
            end[refill] = self.ends[new]
            next_session += n_new
            reset = finished.copy()
            if len(drop):
                keep = np.flatnonzero(~np.isin(np.arange(len(pos)), drop))
                pos, end, reset = pos[keep], end[keep], reset[keep]
                if len(pos) < self.min_lanes or len(pos) == 0:
                    return
