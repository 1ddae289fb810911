"""A tiny seeded click generator for the training tests: Zipf popularity plus strong Markov transitions.

A GRU4Rec that learns anything beats popularity by a wide margin on it (successors are mostly not popular).
"""

from __future__ import annotations

import numpy as np
import torch

from g4r_tune.data.sessions import ItemIndex, SessionData


def markov_sessions(n_items: int = 300, n_sessions: int = 600, seed: int = 0, p_follow: float = 0.85) -> SessionData:
    # the item graph depends on n_items only, so train and test sets drawn with other seeds share it
    successors = np.random.default_rng(12345).integers(0, n_items, size=(n_items, 2))
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    pop /= pop.sum()
    sids, items, times = [], [], []
    t = 0.0
    for s in range(n_sessions):
        length = int(rng.integers(2, 9))
        cur = int(rng.choice(n_items, p=pop))
        for _ in range(length):
            sids.append(s)
            items.append(cur)
            times.append(t)
            t += 1.0
            cur = (
                int(successors[cur, rng.integers(0, 2)]) if rng.random() < p_follow else int(rng.choice(n_items, p=pop))
            )
    index = ItemIndex.from_ids(np.arange(n_items))
    return SessionData.from_arrays(np.array(sids), np.array(items), np.array(times), index)


@torch.no_grad()
def next_item_recall(model, data: SessionData, k: int = 20) -> float:
    """Recall@k of next-item prediction, conservative ties, walking each session from a zero hidden state."""
    model.eval()
    hits, total = 0, 0
    for s in range(data.n_sessions):
        seq = torch.as_tensor(data.items[data.offsets[s] : data.offsets[s + 1]])
        hidden = model.init_hidden(1)
        for i in range(len(seq) - 1):
            out, hidden = model.step(seq[i : i + 1], hidden)
            scores = model.score_all(out)[0]
            rank = int((scores >= scores[seq[i + 1]]).sum())
            hits += rank <= k
            total += 1
    model.train()
    return hits / max(total, 1)


def popularity_recall(train: SessionData, test: SessionData, k: int = 20) -> float:
    top = set(np.argsort(-train.item_support(), kind="stable")[:k].tolist())
    targets = [
        int(test.items[i + 1]) for s in range(test.n_sessions) for i in range(test.offsets[s], test.offsets[s + 1] - 1)
    ]
    return sum(t in top for t in targets) / max(len(targets), 1)
