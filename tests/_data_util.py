"""Test helpers for the data layer: simple next-item baselines scored the GRU4Rec way (every event but the last)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def next_item_pairs(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(current item, next item) for every event but each session's last."""
    events = events.sort_values(["SessionId", "Time"], kind="stable")
    s, i = events["SessionId"].to_numpy(), events["ItemId"].to_numpy()
    same = s[1:] == s[:-1]
    return i[:-1][same], i[1:][same]


def popularity_recall(train: pd.DataFrame, test: pd.DataFrame, k: int = 20) -> float:
    top = set(train["ItemId"].value_counts().index[:k])
    _, targets = next_item_pairs(test)
    return float(np.mean([t in top for t in targets]))


def markov_ranking(train: pd.DataFrame, k: int = 20):
    """First-order Markov: a function item -> its k most frequent successors, filled up with popular items."""
    prev, nxt = next_item_pairs(train)
    pairs = pd.DataFrame({"prev": prev, "next": nxt}).value_counts().reset_index(name="n")
    pairs = pairs.sort_values(["prev", "n"], ascending=[True, False], kind="stable")
    successors = pairs.groupby("prev")["next"].apply(lambda x: list(x[:k])).to_dict()
    popular = list(train["ItemId"].value_counts().index[: 2 * k])

    def ranking(item: object) -> list:
        ranked = list(successors.get(item, []))
        return ranked + [x for x in popular if x not in ranked][: k - len(ranked)]

    return ranking


def markov_recall(train: pd.DataFrame, test: pd.DataFrame, k: int = 20) -> float:
    ranking = markov_ranking(train, k)
    return float(np.mean([t in ranking(p)[:k] for p, t in zip(*next_item_pairs(test), strict=True)]))
