"""Metrics against brute-force Python loops, with many ties (integer-valued scores)."""

from __future__ import annotations

import pytest
import torch

from g4r_tune.errors import ConfigError
from g4r_tune.metrics import hit_and_reciprocal_sums, mrr_at_k, recall_at_k, target_ranks

CUTOFFS = (1, 2, 5, 10, 20)


def _brute_rank(row: list[float], target: int, ties: str) -> float:
    t = row[target]
    greater = sum(1 for j, s in enumerate(row) if s > t)
    equal_others = sum(1 for j, s in enumerate(row) if s == t and j != target)
    if ties == "standard":
        return 1.0 + greater
    if ties == "conservative":
        return 1.0 + greater + equal_others
    return 1.0 + greater + equal_others / 2.0


def _tied_scores(seed: int, batch: int = 64, n_items: int = 40, levels: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (batch, n_items), generator=gen).to(torch.float32)
    targets = torch.randint(0, n_items, (batch,), generator=gen)
    return scores, targets


@pytest.mark.parametrize("ties", ["standard", "conservative", "median"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranks_match_brute_force_with_ties(ties: str, seed: int) -> None:
    scores, targets = _tied_scores(seed)
    ranks = target_ranks(scores, targets, ties)
    expected = [_brute_rank(scores[b].tolist(), int(targets[b]), ties) for b in range(len(targets))]
    assert ranks.dtype == torch.float64
    assert ranks.tolist() == expected


def test_tie_modes_order_and_agree_without_ties() -> None:
    scores, targets = _tied_scores(3)
    std, med, con = (target_ranks(scores, targets, t) for t in ("standard", "median", "conservative"))
    assert torch.all(std <= med) and torch.all(med <= con)
    assert torch.any(std < con)  # the data really has ties
    distinct = torch.randn(32, 100, generator=torch.Generator().manual_seed(4))
    tgt = torch.arange(32)
    assert torch.equal(target_ranks(distinct, tgt, "standard"), target_ranks(distinct, tgt, "conservative"))
    assert torch.equal(target_ranks(distinct, tgt, "median"), target_ranks(distinct, tgt, "conservative"))


def test_all_equal_scores_rank_last_conservatively() -> None:
    scores = torch.zeros(3, 7)
    targets = torch.tensor([0, 3, 6])
    assert target_ranks(scores, targets, "standard").tolist() == [1.0] * 3
    assert target_ranks(scores, targets, "conservative").tolist() == [7.0] * 3
    assert target_ranks(scores, targets, "median").tolist() == [4.0] * 3


def test_nan_target_ranks_last() -> None:
    scores = torch.tensor([[float("nan"), 1.0, 2.0], [0.0, 1.0, 2.0]])
    ranks = target_ranks(scores, torch.tensor([0, 2]), "conservative")
    assert ranks.tolist() == [3.0, 1.0]


@pytest.mark.parametrize("ties", ["standard", "conservative", "median"])
def test_recall_and_mrr_match_brute_force(ties: str) -> None:
    scores, targets = _tied_scores(5, batch=200, n_items=30, levels=4)
    ranks = target_ranks(scores, targets, ties)
    brute = [_brute_rank(scores[b].tolist(), int(targets[b]), ties) for b in range(len(targets))]
    recall, mrr = recall_at_k(ranks, CUTOFFS), mrr_at_k(ranks, CUTOFFS)
    for k in CUTOFFS:
        assert recall[k] == pytest.approx(sum(r <= k for r in brute) / len(brute), abs=1e-12)
        assert mrr[k] == pytest.approx(sum(1.0 / r for r in brute if r <= k) / len(brute), abs=1e-12)
    assert [recall[k] for k in CUTOFFS] == sorted(recall[k] for k in CUTOFFS)  # monotone in K


def test_half_integer_median_rank_is_not_a_hit_at_the_lower_cutoff() -> None:
    ranks = torch.tensor([1.5, 2.0, 20.5])
    hits, rr = hit_and_reciprocal_sums(ranks, [1, 2, 20, 21])
    assert hits.tolist() == [0.0, 2.0, 2.0, 3.0]
    assert rr.tolist() == pytest.approx([0.0, 1 / 1.5 + 0.5, 1 / 1.5 + 0.5, 1 / 1.5 + 0.5 + 1 / 20.5])


def test_sums_add_up_over_batches() -> None:
    scores, targets = _tied_scores(6, batch=90)
    ranks = target_ranks(scores, targets)
    whole = hit_and_reciprocal_sums(ranks, CUTOFFS)
    parts = [hit_and_reciprocal_sums(r, CUTOFFS) for r in ranks.split(37)]
    assert torch.allclose(sum(p[0] for p in parts), whole[0])
    assert torch.allclose(sum(p[1] for p in parts), whole[1])


def test_bad_tie_mode_and_shapes_are_errors() -> None:
    with pytest.raises(ConfigError, match="ties"):
        target_ranks(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), "optimistic")
    with pytest.raises(ValueError):
        target_ranks(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
