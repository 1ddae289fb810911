"""The benchmark data set: seeded Zipf popularity + Markov-like sessions (~460k events, ~20.3k items by default)."""

from __future__ import annotations

import numpy as np

from g4r_tune.data.sessions import ItemIndex, SessionData


def synth_sessions(n_events: int = 460_000, n_items: int = 25_800, seed: int = 7) -> SessionData:
    """Sessions of geometric length (mean ~4.6, >= 2); each next item follows one of the current item's
    4 successors with p=0.6, else a Zipf(1.05)-popular item. Vectorised per position across sessions."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.05
    cdf = np.cumsum(pop) / pop.sum()
    perm = rng.permutation(n_items)  # popular items are not the low ids
    successors = perm[np.minimum(np.searchsorted(cdf, rng.random((n_items, 4))), n_items - 1)]
    lengths = np.minimum(2 + rng.geometric(0.38, size=n_events // 4), 60)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_events) + 1]
    n_sessions = len(lengths)
    items = np.empty(int(lengths.sum()), dtype=np.int64)
    offsets = np.r_[0, np.cumsum(lengths)]
    cur = perm[np.minimum(np.searchsorted(cdf, rng.random(n_sessions)), n_items - 1)]
    for pos in range(int(lengths.max())):
        alive = np.flatnonzero(lengths > pos)
        items[offsets[alive] + pos] = cur[alive]
        follow = rng.random(n_sessions) < 0.6
        jump = perm[np.minimum(np.searchsorted(cdf, rng.random(n_sessions)), n_items - 1)]
        cur = np.where(follow, successors[cur, rng.integers(0, 4, n_sessions)], jump)
    used = np.unique(items)  # dense ids over the items that occur
    remap = np.full(n_items, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    items = remap[items]
    session_ids = np.repeat(np.arange(n_sessions), lengths)
    times = np.arange(len(items), dtype=np.float64)
    return SessionData.from_arrays(session_ids, items, times, ItemIndex.from_ids(np.arange(len(used))))
