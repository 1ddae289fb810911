"""Adagrad with momentum: row-sparse updates against a dense reference on a tiny problem."""

from __future__ import annotations

import math

import pytest
import torch

from g4r_tune.optim import AdagradMomentum


def _dense_reference(p, grads, lr, mom, touched_masks):
    """Element-wise spec formula; rows not touched in a step are left alone (acc, velocity and value)."""
    p = p.clone().double()
    acc = torch.zeros_like(p)
    vel = torch.zeros_like(p)
    for g, touched in zip(grads, touched_masks, strict=True):
        for i in range(p.shape[0]):
            if not touched[i]:
                continue
            for j in range(p.shape[1]):
                acc[i, j] += g[i, j] ** 2
                step = lr * g[i, j] / math.sqrt(acc[i, j] + 1e-6)
                if mom > 0:
                    vel[i, j] = mom * vel[i, j] + step
                    p[i, j] -= vel[i, j]
                else:
                    p[i, j] -= step
    return p, acc


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("fused", [False, True])
def test_sparse_rows_match_dense_reference(momentum: float, fused: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(8, 3, generator=gen)
    opt = AdagradMomentum({"w": start.clone()}, lr=0.2, momentum=momentum, fused=fused)
    grads, masks = [], []
    for rows in ([1, 4, 5], [4, 0], [7, 1, 4, 2]):
        idx = torch.tensor(rows)
        g_rows = torch.randn(len(rows), 3, generator=gen)
        opt.sparse_step("w", idx, g_rows)
        full = torch.zeros(8, 3)
        full[idx] = g_rows
        grads.append(full)
        masks.append([i in rows for i in range(8)])
    want, want_acc = _dense_reference(start, grads, 0.2, momentum, masks)
    torch.testing.assert_close(opt.params["w"].double(), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(opt.acc["w"].double(), want_acc, rtol=1e-5, atol=1e-6)
    assert torch.equal(opt.params["w"][6], start[6])  # never touched: unchanged


@pytest.mark.parametrize("momentum", [0.0, 0.3])
def test_dense_step_matches_formula(momentum: float) -> None:
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(4, 2, generator=gen)
    opt = AdagradMomentum({"w": start.clone()}, lr=0.05, momentum=momentum)
    grads = [torch.randn(4, 2, generator=gen) for _ in range(3)]
    for g in grads:
        opt.dense_step("w", g)
    want, _ = _dense_reference(start, grads, 0.05, momentum, [[True] * 4] * 3)
    torch.testing.assert_close(opt.params["w"].double(), want, rtol=1e-5, atol=1e-6)


def test_state_round_trip() -> None:
    a = AdagradMomentum({"w": torch.ones(3, 2)}, lr=0.1, momentum=0.4)
    a.sparse_step("w", torch.tensor([1]), torch.ones(1, 2))
    b = AdagradMomentum({"w": torch.ones(3, 2)}, lr=0.1, momentum=0.4)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.acc["w"], a.acc["w"]) and torch.equal(b.vel["w"], a.vel["w"])
