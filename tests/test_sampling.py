"""Block-drawn negative samples: distribution, seeding, resumable state."""

from __future__ import annotations

import numpy as np
import pytest

from g4r_tune.errors import DataError
from g4r_tune.sampling import NegativeSampler


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_frequencies_follow_support_power(alpha: float) -> None:
    support = np.array([1, 4, 9, 0, 100, 30])
    sampler = NegativeSampler(support, n_sample=1000, alpha=alpha, seed=0, block_ids=50_000)
    draws = np.concatenate([sampler.next() for _ in range(200)])
    freq = np.bincount(draws, minlength=6) / len(draws)
    want = np.where(support > 0, support.astype(float) ** alpha, 0.0)
    want /= want.sum()
    assert freq[3] == 0  # never an item without support
    np.testing.assert_allclose(freq, want, atol=0.005)


def test_seeded_and_resumable_across_blocks() -> None:
    support = np.arange(1, 40)
    a = NegativeSampler(support, n_sample=7, alpha=0.4, seed=5, block_ids=30)  # 4 steps per block
    b = NegativeSampler(support, n_sample=7, alpha=0.4, seed=5, block_ids=30)
    first = [a.next().copy() for _ in range(6)]
    assert all((x == b.next()).all() for x in first)
    state = a.state_dict()
    rest = [a.next().copy() for _ in range(9)]
    c = NegativeSampler(support, n_sample=7, alpha=0.4, seed=99, block_ids=30)
    c.load_state_dict(state)
    assert all((x == c.next()).all() for x in rest)
    fresh = NegativeSampler(support, n_sample=7, alpha=0.4, seed=5, block_ids=30)
    fresh.load_state_dict(NegativeSampler(support, n_sample=7, alpha=0.4, seed=5, block_ids=30).state_dict())
    assert (fresh.next() == first[0]).all()


def test_no_support_is_an_error_and_zero_samples_is_empty() -> None:
    with pytest.raises(DataError):
        NegativeSampler(np.zeros(3), n_sample=5, alpha=0.5, seed=0)
    assert NegativeSampler(np.ones(3), n_sample=0, alpha=0.5, seed=0).next().shape == (0,)
