"""Test helpers for evaluation: a tiny model that follows the GRU4Rec model interface, and small session data."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from g4r_tune.data.sessions import ItemIndex, SessionData


class TinyRecurrentModel(nn.Module):
    """Two stacked GRU cells over a shared item table: the interface of ``g4r_tune.model.GRU4Rec``.

    With ``integer_scores=True`` scores are rounded, so ranks have many ties.
    """

    def __init__(self, n_items: int, sizes: tuple[int, ...] = (8, 6), seed: int = 0, integer_scores: bool = False):
        super().__init__()
        torch.manual_seed(seed)
        self.n_items = n_items
        self.sizes = sizes
        self.embed = nn.Embedding(n_items, sizes[0])
        self.cells = nn.ModuleList(nn.GRUCell(i, o) for i, o in zip((sizes[0], *sizes[:-1]), sizes, strict=True))
        self.wy = nn.Parameter(torch.randn(n_items, sizes[-1]))
        self.by = nn.Parameter(torch.randn(n_items) * 0.1)
        self.dropout = nn.Dropout(0.5)
        self.integer_scores = integer_scores

    def init_hidden(self, batch: int, device=None) -> list[torch.Tensor]:
        return [torch.zeros(batch, s, device=device, dtype=self.wy.dtype) for s in self.sizes]

    def step(self, items: torch.Tensor, hidden: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.dropout(self.embed(items))
        new = []
        for cell, h in zip(self.cells, hidden, strict=True):
            x = cell(x, h)
            new.append(x)
        return x, new

    def score_all(self, out: torch.Tensor) -> torch.Tensor:
        scores = out @ self.wy.T + self.by
        return torch.round(scores) if self.integer_scores else scores


def random_sessions(n_items: int, lengths: list[int], seed: int = 0) -> SessionData:
    """Sessions of the given lengths with random items, in the given order."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, n_items, size=sum(lengths)).astype(np.int64)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    times = np.arange(len(items), dtype=np.float64)
    index = ItemIndex(np.arange(n_items, dtype=np.int64))
    return SessionData(items, offsets, times, np.arange(len(lengths)), index)


def write_click_tsv(path, n_sessions: int, n_items: int, seed: int = 0, item_offset: int = 1000) -> None:
    """A GRU4Rec TSV of Markov-like sessions (item i is mostly followed by i+1), so that a model can learn."""
    rng = np.random.default_rng(seed)
    rows = ["SessionId\tItemId\tTime"]
    t = 0
    for s in range(n_sessions):
        item = int(rng.integers(n_items))
        for _ in range(int(rng.integers(2, 7))):
            rows.append(f"{s + 1}\t{item + item_offset}\t{t}")
            t += 1
            item = (item + 1) % n_items if rng.random() < 0.8 else int(rng.integers(n_items))
    path.write_text("\n".join(rows) + "\n")
