"""Each loss against a brute-force Python loop over the spec's formula, on small random score matrices."""

from __future__ import annotations

import math
import zlib

import pytest
import torch

from g4r_tune import losses

EPS = 1e-24


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _act(x: float, elu: float) -> float:
    return x if (elu <= 0 or x > 0) else elu * (math.exp(x) - 1.0)


def _softmax_neg(row: list[float], t: int) -> list[float]:
    m = max(v for j, v in enumerate(row) if j != t)
    e = [0.0 if j == t else math.exp(v - m) for j, v in enumerate(row)]
    z = sum(e)
    return [v / z for v in e]


def brute(name: str, scores: list[list[float]], bpreg: float, elu: float, logq: float, log_q: list[float]):
    out = []
    for t, raw in enumerate(scores):
        n = len(raw)
        if name == "cross-entropy":
            r = [v - logq * log_q[j] for j, v in enumerate(raw)]
            m = max(r)
            z = sum(math.exp(v - m) for v in r)
            out.append(-math.log(math.exp(r[t] - m) / z + EPS))
            continue
        r = [_act(v, elu) for v in raw]
        if name == "bpr-max":
            s = _softmax_neg(r, t)
            a = sum(s[j] * _sig(r[t] - r[j]) for j in range(n) if j != t)
            out.append(-math.log(a + EPS) + bpreg * sum(s[j] * r[j] ** 2 for j in range(n) if j != t))
        elif name == "top1":
            total = sum(_sig(r[j] - r[t]) + _sig(r[j] ** 2) for j in range(n)) / n
            out.append(total - _sig(r[t] ** 2) / n)
        elif name == "top1-max":
            s = _softmax_neg(r, t)
            out.append(sum(s[j] * (_sig(r[j] - r[t]) + _sig(r[j] ** 2)) for j in range(n) if j != t))
        elif name == "bpr":
            out.append(sum(-math.log(_sig(r[t] - r[j]) + EPS) for j in range(n) if j != t) / (n - 1))
    return out


@pytest.mark.parametrize("name", ["cross-entropy", "bpr-max", "top1", "top1-max", "bpr"])
@pytest.mark.parametrize("elu", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(1, 4), (5, 9), (6, 6)])
def test_loss_matches_brute_force(name: str, elu: float, shape: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(zlib.crc32(f"{name}{elu}{shape}".encode()))
    scores = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    log_q = torch.rand(shape[1], generator=gen, dtype=torch.float64) * 4
    got = losses.lane_losses(name, scores, bpreg=1.7, elu_param=elu, logq=0.8, log_q=log_q)
    want = brute(name, scores.tolist(), 1.7, elu, 0.8, log_q.tolist())
    assert got.shape == (shape[0],)
    assert got.tolist() == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_cross_entropy_without_logq_is_plain_softmax() -> None:
    scores = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    got = losses.cross_entropy(scores)
    assert got.tolist() == pytest.approx(
        [-math.log(math.exp(1) / (math.exp(1) + math.exp(2) + math.exp(0.5))), math.log(3)]
    )


def test_ties_and_extreme_scores_stay_finite() -> None:
    scores = torch.tensor([[50.0, 50.0, -50.0, 50.0], [-80.0, 80.0, 80.0, 0.0]], dtype=torch.float32)
    for name in ["cross-entropy", "bpr-max", "top1", "top1-max", "bpr"]:
        got = losses.lane_losses(name, scores, bpreg=1.0, elu_param=0.5, logq=0.0, log_q=None)
        assert torch.isfinite(got).all(), name
