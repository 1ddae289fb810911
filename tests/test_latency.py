"""Latency: percentiles from known timings, the fast scorer against plain float32 top-n, replay semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from g4r_tune.config import Hyperparams
from g4r_tune.data.sessions import ItemIndex, SessionData
from g4r_tune.errors import ConfigError, DataError
from g4r_tune.latency import (
    TopNScorer,
    measure_latency,
    percentile_nearest_rank,
    replay_requests,
    summarize_timings,
    synthetic_sessions,
)
from g4r_tune.model import GRU4Rec


def test_nearest_rank_percentiles_of_known_timings() -> None:
    values = np.arange(1, 1001, dtype=float)  # 1..1000 ms
    assert percentile_nearest_rank(values, 50) == 500.0
    assert percentile_nearest_rank(values, 95) == 950.0
    assert percentile_nearest_rank(values, 99) == 990.0
    assert percentile_nearest_rank(values, 99.9) == 999.0
    assert percentile_nearest_rank(values, 100) == 1000.0
    small = np.array([3.0, 7.0, 9.0])
    assert percentile_nearest_rank(small, 50) == 7.0  # ceil(1.5) = 2nd
    assert percentile_nearest_rank(small, 33.3) == 3.0  # ceil(0.999) = 1st
    assert percentile_nearest_rank(small, 99) == 9.0
    assert percentile_nearest_rank(np.array([4.0]), 0.1) == 4.0
    with pytest.raises(ConfigError):
        percentile_nearest_rank(small, 0)
    with pytest.raises(DataError):
        percentile_nearest_rank(np.array([]), 50)


def test_summary_of_known_timings_in_ns() -> None:
    # 10,000 timings: 9,900 of 1 ms, 90 of 5 ms, 10 of 20 ms (shuffled)
    ns = np.r_[np.full(9900, 1_000_000), np.full(90, 5_000_000), np.full(10, 20_000_000)]
    np.random.default_rng(0).shuffle(ns)
    s = summarize_timings(ns, variant="stateful", device="cpu", threads=1, n_items=10, top_n=5, precision="float32")
    assert (s.p50_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms) == (1.0, 1.0, 1.0, 5.0, 20.0)  # p99.9 = 9,990th value
    assert s.mean_ms == pytest.approx((9900 * 1 + 90 * 5 + 10 * 20) / 10000)
    assert s.requests_per_second == pytest.approx(10000 / (10550 / 1000))
    assert s.n_requests == 10000 and s.torch_version == torch.__version__


def _plain_top(weights: torch.Tensor, bias: torch.Tensor, out: torch.Tensor, n: int) -> torch.Tensor:
    return torch.topk(out @ weights.T + bias, n).indices[0]


@pytest.mark.parametrize("precision", ["float32", "float16", "int16"])
def test_scorer_top_n_matches_plain_float32(precision: str) -> None:
    gen = torch.Generator().manual_seed(1)
    n_items, hidden = 3000, 48
    weights = torch.randn(n_items, hidden, generator=gen) * 0.3
    bias = torch.randn(n_items, generator=gen) * 0.1
    scorer = TopNScorer(weights, bias, top_n=20, precision=precision, shortlist=64)
    with torch.inference_mode():
        for _ in range(200):
            out = torch.randn(1, hidden, generator=gen)
            assert torch.equal(scorer(out).clone(), _plain_top(weights, bias, out, 20))
    if precision != "float32":
        assert scorer.fallbacks < 200  # the shortlist proof succeeds on most requests


@pytest.mark.parametrize("precision", ["float16", "int16"])
def test_reduced_precision_falls_back_when_the_bound_cannot_prove_the_shortlist(precision: str) -> None:
    # every item scores almost the same: float16 cannot separate them, so the exact path must answer
    gen = torch.Generator().manual_seed(2)
    weights = torch.ones(500, 8) + torch.randn(500, 8, generator=gen) * 1e-4
    bias = torch.zeros(500)
    scorer = TopNScorer(weights, bias, top_n=20, precision=precision, shortlist=32)
    out = torch.ones(1, 8)
    with torch.inference_mode():
        got = scorer(out).clone()
    assert scorer.fallbacks == 1
    assert torch.equal(got, _plain_top(weights, bias, out, 20))


def test_scorer_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="precision"):
        TopNScorer(torch.zeros(5, 2), torch.zeros(5), precision="int8")
    with pytest.raises(ConfigError, match="top_n"):
        TopNScorer(torch.zeros(5, 2), torch.zeros(5), top_n=6)


def test_replay_cycles_sessions_click_by_click() -> None:
    data = SessionData(
        np.array([0, 1, 2, 3, 4], dtype=np.int64),
        np.array([0, 2, 5]),
        np.arange(5.0),
        np.array([10, 11]),
        ItemIndex(np.arange(5)),
    )
    got = [(r.session, r.position) for r in replay_requests(data, 7)]
    assert got == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (0, 0), (0, 1)]


def test_measure_latency_runs_both_variants_and_restores_threads() -> None:
    params = Hyperparams(loss="bpr-max", layers=(16,), constrained_embedding=True)
    model = GRU4Rec(params, n_items=300)
    data = synthetic_sessions(300, n_sessions=30, seed=3)
    threads_before = torch.get_num_threads()
    seen: list[int] = []
    stats = measure_latency(model, data, n_requests=250, warmup=10, progress=lambda i, n: seen.append(i))
    assert stats.n_requests == 250 and stats.variant == "stateful" and stats.n_items == 300
    assert 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms <= stats.p999_ms <= stats.max_ms
    assert seen[-1] == 250
    stateless = measure_latency(model, data, n_requests=100, warmup=5, stateless=True, precision="float16")
    assert stateless.variant == "stateless" and stateless.precision == "float16"
    assert torch.get_num_threads() == threads_before


def test_stateful_replay_returns_the_same_top_n_as_rerunning_the_prefix() -> None:
    # carried state and re-running the prefix are the same computation: the recommendations must agree
    params = Hyperparams(loss="cross-entropy", layers=(12,), constrained_embedding=False, embedding=8)
    model = GRU4Rec(params, n_items=50).eval()
    items = torch.tensor([3, 7, 7, 1, 49])
    scorer = TopNScorer(*model.output_weights(), top_n=5)
    with torch.inference_mode():
        hidden = model.init_hidden(1)
        for t in range(len(items)):
            out, hidden = model.step(items[t : t + 1], hidden)
            carried = scorer(out).clone()
            h2 = model.init_hidden(1)
            for u in range(t + 1):
                out2, h2 = model.step(items[u : u + 1], h2)
            assert torch.equal(carried, scorer(out2).clone())


def test_fixed_point_error_bound_holds() -> None:
    from g4r_tune.fixed_point import FixedPointScores

    gen = np.random.default_rng(4)
    weights = (gen.standard_normal((2000, 224)) * gen.uniform(0.01, 1.0, size=(2000, 1))).astype(np.float32)
    bias = gen.standard_normal(2000).astype(np.float32) * 3
    fixed = FixedPointScores(weights, bias)
    assert 224 * fixed.q_max**2 < 2**31  # no int32 overflow possible
    for scale in (1e-3, 1.0, 50.0):
        x = (gen.standard_normal(224) * scale).astype(np.float32)
        approx, bound = fixed(x)
        exact = weights.astype(np.float64) @ x.astype(np.float64) + bias
        err = np.abs(approx - exact).max()
        assert err <= bound and bound < 0.05 * np.abs(exact).max()  # sound, and tight enough to be useful
