"""The numba fast-path kernels against the readable PyTorch reference (losses.py / optim.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from g4r_tune import kernels, losses
from g4r_tune.optim import AdagradMomentum


def _columns(rng: np.random.Generator, n_lanes: int, n_unique: int, n_cols: int) -> np.ndarray:
    """Column -> unique item: lanes' targets first (may repeat), then samples with duplicates."""
    return np.r_[rng.integers(0, n_unique, n_lanes), rng.integers(0, n_unique, n_cols - n_lanes)].astype(np.int64)


@pytest.mark.parametrize("name", list(kernels.LOSS_CODES))
@pytest.mark.parametrize("elu", [0.0, 0.5])
@pytest.mark.parametrize("dims", [(1, 5, 7), (6, 12, 40), (9, 30, 9)])
def test_fused_loss_matches_autograd(name: str, elu: float, dims: tuple[int, int, int]) -> None:
    n_lanes, n_unique, n_cols = dims
    rng = np.random.default_rng(n_lanes * 100 + n_cols)
    scores = (rng.standard_normal((n_lanes, n_unique)) * 2).astype(np.float32)
    cols = _columns(rng, n_lanes, n_unique, n_cols)
    offset = (rng.random(n_cols) * 2).astype(np.float32) if name == "cross-entropy" else np.zeros(n_cols, np.float32)
    leaf = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    lane = losses.lane_losses(
        name,
        leaf[:, torch.from_numpy(cols)],
        bpreg=1.95,
        elu_param=elu,
        logq=1.0,
        log_q=torch.from_numpy(offset).double(),
    )
    (lane.sum() / 80).backward()
    grad = np.full((n_lanes, n_unique), np.nan, np.float32)
    lane_loss = np.empty(n_lanes)
    kernels.loss_fwd_bwd(scores, cols, offset, kernels.LOSS_CODES[name], 1.95, elu, 1 / 80, grad, lane_loss)
    np.testing.assert_allclose(lane_loss, lane.detach().numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(grad, leaf.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_fast_exp_is_accurate_where_used() -> None:
    x = -np.linspace(0, 80, 20001).astype(np.float32)
    scores = x.reshape(1, -1).copy()
    # cross-entropy over [0, x...] with the target at column 0 exercises exp(x - max) on every value
    cols = np.arange(len(x), dtype=np.int64)
    grad = np.empty_like(scores)
    lane = np.empty(1)
    kernels.loss_fwd_bwd(scores, cols, np.zeros(len(x), np.float32), 0, 0.0, 0.0, 1.0, grad, lane)
    e = np.exp(x.astype(np.float64))
    want = e / e.sum()
    want[0] -= 1.0
    np.testing.assert_allclose(grad[0], want, rtol=3e-6, atol=1e-30)


@pytest.mark.parametrize("momentum", [0.0, 0.4])
def test_fused_optimizer_updates_match_torch(momentum: float) -> None:
    gen = torch.Generator().manual_seed(3)
    table = torch.randn(50, 6, generator=gen)
    dense = torch.randn(17, generator=gen)
    ref = AdagradMomentum({"t": table.clone(), "d": dense.clone()}, lr=0.1, momentum=momentum)
    fast = AdagradMomentum({"t": table.clone(), "d": dense.clone()}, lr=0.1, momentum=momentum, fused=True)
    assert fast.fused
    for _ in range(4):
        rows = torch.randperm(50, generator=gen)[:9]
        g_rows = torch.randn(9, 6, generator=gen)
        g_dense = torch.randn(17, generator=gen)
        for opt in (ref, fast):
            opt.sparse_step("t", rows, g_rows)
            opt.dense_step("d", g_dense)
    for name in ("t", "d"):
        torch.testing.assert_close(fast.params[name], ref.params[name], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(fast.acc[name], ref.acc[name], rtol=1e-6, atol=1e-6)


def test_unique_rows_first_seen_order_and_marker_restored() -> None:
    idx = np.array([5, 2, 5, 9, 2, 0], dtype=np.int64)
    marker = np.full(10, -1, dtype=np.int64)
    rows, inv = np.empty(6, np.int64), np.empty(6, np.int64)
    n = kernels.unique_rows(idx, marker, rows, inv)
    assert rows[:n].tolist() == [5, 2, 9, 0]
    assert rows[inv].tolist() == idx.tolist()
    assert (marker == -1).all()


def test_cross_entropy_counts_form_matches_expanded_columns() -> None:
    rng = np.random.default_rng(4)
    n_lanes, n_unique = 7, 25
    cols = np.r_[rng.integers(0, n_unique, n_lanes), np.arange(n_unique), rng.integers(0, n_unique, 30)]
    scores = (rng.standard_normal((n_lanes, n_unique)) * 3).astype(np.float32)
    want_grad, want_loss = np.empty_like(scores), np.empty(n_lanes)
    zeros = np.zeros(len(cols), np.float32)
    kernels.loss_fwd_bwd(scores, cols.astype(np.int64), zeros, 0, 0.0, 0.0, 0.25, want_grad, want_loss)
    grad, loss = np.empty_like(scores), np.empty(n_lanes)
    counts = np.bincount(cols, minlength=n_unique).astype(np.float32)
    kernels.cross_entropy_counts_fwd_bwd(scores, counts, cols[:n_lanes].astype(np.int64), 0.25, grad, loss)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-7)
