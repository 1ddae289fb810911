"""GRU4Rec losses as pure functions of a score matrix (the reference path; kernels.py fuses the same maths).

``scores`` is ``(n_lanes, n_columns)``: column ``b`` is lane ``b``'s target, every other column is a negative for
it (the other lanes' targets, then the shared samples). Each function returns the per-lane losses; a training
step sums them and divides by the nominal batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-24  # inside every log, as the spec says


def _target_mask(scores: Tensor) -> Tensor:
    n_lanes, n_cols = scores.shape
    return torch.eye(n_lanes, n_cols, dtype=torch.bool, device=scores.device)


def _softmax_negatives(scores: Tensor, target: Tensor) -> Tensor:
    """Softmax over each row's negatives (target column excluded)."""
    masked = scores.masked_fill(target, float("-inf"))
    return torch.softmax(masked, dim=1)


def activation(scores: Tensor, elu_param: float) -> Tensor:
    """Final activation of the ranking losses: ELU(alpha=elu_param) when elu_param > 0."""
    return F.elu(scores, alpha=elu_param) if elu_param > 0 else scores


def cross_entropy(scores: Tensor, log_q: Tensor | None = None, logq: float = 0.0) -> Tensor:
    """-log softmax(r)_t over all columns; with ``logq > 0`` scores are first corrected by ``-logq * log_q``."""
    if logq > 0 and log_q is not None:
        scores = scores - logq * log_q
    prob = torch.softmax(scores, dim=1)
    return -torch.log(torch.diagonal(prob) + EPS)


def bpr_max(scores: Tensor, bpreg: float, elu_param: float) -> Tensor:
    r = activation(scores, elu_param)
    target = _target_mask(r)
    weights = _softmax_negatives(r, target)
    r_t = torch.diagonal(r).unsqueeze(1)
    ranking = -torch.log((weights * torch.sigmoid(r_t - r)).sum(1) + EPS)
    return ranking + bpreg * (weights * r * r).sum(1)


def top1(scores: Tensor, elu_param: float) -> Tensor:
    r = activation(scores, elu_param)
    r_t = torch.diagonal(r)
    terms = torch.sigmoid(r - r_t.unsqueeze(1)) + torch.sigmoid(r * r)
    return terms.mean(1) - torch.sigmoid(r_t * r_t) / r.shape[1]


def top1_max(scores: Tensor, elu_param: float) -> Tensor:
    r = activation(scores, elu_param)
    weights = _softmax_negatives(r, _target_mask(r))
    r_t = torch.diagonal(r).unsqueeze(1)
    return (weights * (torch.sigmoid(r - r_t) + torch.sigmoid(r * r))).sum(1)


def bpr(scores: Tensor, elu_param: float) -> Tensor:
    r = activation(scores, elu_param)
    target = _target_mask(r)
    r_t = torch.diagonal(r).unsqueeze(1)
    per_pair = -torch.log(torch.sigmoid(r_t - r) + EPS)
    n_neg = max(r.shape[1] - 1, 1)
    return per_pair.masked_fill(target, 0.0).sum(1) / n_neg


def lane_losses(name: str, scores: Tensor, *, bpreg: float, elu_param: float, logq: float, log_q: Tensor | None):
    """Dispatch by the hyperparameter's loss name."""
    if name == "cross-entropy":
        return cross_entropy(scores, log_q, logq)
    if name == "bpr-max":
        return bpr_max(scores, bpreg, elu_param)
    if name == "top1":
        return top1(scores, elu_param)
    if name == "top1-max":
        return top1_max(scores, elu_param)
    if name == "bpr":
        return bpr(scores, elu_param)
    raise ValueError(f"unknown loss {name!r}")
