"""Test helpers for the data layer: simple next-item baselines scored the GRU4Rec way (every event but the last)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _next_item_pairs(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    events = events.sort_values(["SessionId", "Time"], kind="stable")
    s, i = events["SessionId"].to_numpy(), events["ItemId"].to_numpy()
    same = s[1:] == s[:-1]
    return i[:-1][same], i[1:][same]


def popularity_recall(train: pd.DataFrame, test: pd.DataFrame, k: int = 20) -> float:
    top = set(train["ItemId"].value_counts().index[:k])
    _, targets = _next_item_pairs(test)
    return float(np.mean([t in top for t in targets]))


def markov_recall(train: pd.DataFrame, test: pd.DataFrame, k: int = 20) -> float:
    """First-order Markov: the k most frequent successors of the current item, filled up with popular items."""
    prev, nxt = _next_item_pairs(train)
    pairs = pd.DataFrame({"prev": prev, "next": nxt}).value_counts().reset_index(name="n")
    pairs = pairs.sort_values(["prev", "n"], ascending=[True, False], kind="stable")
    successors = pairs.groupby("prev")["next"].apply(lambda x: list(x[:k])).to_dict()
    popular = list(train["ItemId"].value_counts().index[: 2 * k])
    hits = []
    for p, t in zip(*_next_item_pairs(test), strict=True):
        ranked = list(successors.get(p, []))
        ranked += [x for x in popular if x not in ranked][: k - len(ranked)]
        hits.append(t in ranked[:k])
    return float(np.mean(hits))
