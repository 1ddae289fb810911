"""Next-item ranking metrics as pure tensor functions: target ranks (three tie modes), Recall@K and MRR@K.

Ranks are 1-based and may be half-integers (``median`` ties). A prediction "hits" at K when ``rank <= K``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from g4r_tune.config import TIE_MODES
from g4r_tune.errors import ConfigError, must_be


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, ties: str = "conservative") -> torch.Tensor:
    """Rank of each row's target item among all items of that row.

    ``scores`` is (B, n_items), ``targets`` is (B,) column indices. Returns (B,) float64 ranks:

    - ``standard``: ``1 + #{score > target}``
    - ``conservative``: ``#{score >= target}`` (ties, the target excluded, count against the model)
    - ``median``: ``1 + #{>} + (#{==} - 1) / 2`` (ties split evenly)

    A NaN target score ranks last (``n_items``): a broken model must not look perfect.
    """
    if ties not in TIE_MODES:
        raise ConfigError(must_be("ties", ties, f"one of {', '.join(TIE_MODES)}"))
    if scores.ndim != 2 or targets.ndim != 1 or scores.shape[0] != targets.shape[0]:
        shapes = f"{tuple(scores.shape)} vs {tuple(targets.shape)}"
        raise ValueError(f"scores (B, n_items) and targets (B,) disagree: {shapes}")
    target_scores = scores.gather(1, targets.long().unsqueeze(1))  # (B, 1)
    greater = (scores > target_scores).sum(dim=1, dtype=torch.int64)  # (B,)
    if ties == "standard":
        ranks = (1 + greater).to(torch.float64)
    else:
        equal = (scores == target_scores).sum(dim=1, dtype=torch.int64)  # (B,), includes the target itself
        if ties == "conservative":
            ranks = (greater + equal).to(torch.float64)
        else:
            ranks = 1.0 + greater.to(torch.float64) + (equal.to(torch.float64) - 1.0) / 2.0
    return torch.where(torch.isnan(target_scores.squeeze(1)), float(scores.shape[1]), ranks)


def hit_and_reciprocal_sums(ranks: torch.Tensor, cutoffs: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over predictions, per cutoff: (#hits (K,), sum of 1/rank over hits (K,)), both float64.

    Sums (not means) so that an evaluation can add them up batch by batch without keeping the ranks.
    """
    ranks = ranks.to(torch.float64).unsqueeze(0)  # (1, B)
    ks = torch.as_tensor(list(cutoffs), dtype=torch.float64, device=ranks.device).unsqueeze(1)  # (K, 1)
    hits = ranks <= ks  # (K, B)
    reciprocal = torch.where(hits, 1.0 / ranks, torch.zeros((), dtype=torch.float64, device=ranks.device))
    return hits.sum(dim=1, dtype=torch.float64), reciprocal.sum(dim=1)


def recall_at_k(ranks: torch.Tensor, cutoffs: Sequence[int]) -> dict[int, float]:
    """Share of predictions whose target ranks within the top K, for each K."""
    hits, _ = hit_and_reciprocal_sums(ranks, cutoffs)
    n = max(int(ranks.numel()), 1)
    return {int(k): float(h) / n for k, h in zip(cutoffs, hits.tolist(), strict=True)}


def mrr_at_k(ranks: torch.Tensor, cutoffs: Sequence[int]) -> dict[int, float]:
    """Mean over predictions of 1/rank when rank <= K, else 0, for each K."""
    _, reciprocal = hit_and_reciprocal_sums(ranks, cutoffs)
    n = max(int(ranks.numel()), 1)
    return {int(k): float(r) / n for k, r in zip(cutoffs, reciprocal.tolist(), strict=True)}
