"""Numba kernels of the CPU fast path: the fused loss forward+backward and the in-place Adagrad-momentum updates.

Eager PyTorch runs the element-wise parts of a step (exp, sigmoid, ELU, the optimizer's read-modify-write of
~2,000 random rows and their state) near scalar speed on one core; one pass per lane / per row here is what
moves training past the reference (see ../shared/docs/speed-notes.md). `g4r_tune.losses` and `g4r_tune.optim`
hold the readable reference maths; tests/test_kernels.py checks these against them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

LOSS_CODES = {"cross-entropy": 0, "bpr-max": 1, "top1": 2, "top1-max": 3, "bpr": 4}
_EPS = 1e-24
# reassociation lets LLVM vectorise the reductions; every value stays float32 (differences: float32 rounding)
_FAST = {"nsz", "contract", "reassoc"}
_POW2 = np.array([2.0**k for k in range(-127, 128)], dtype=np.float32)
_F = np.float32


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def _exp(x):
    """float32 exp for x <= 0 (|relative error| < ~3e-7) built from arithmetic and a table load only, so loops
    calling it vectorise (numba has no vector libm here). Inputs below -87 give ~1e-38 instead of 0."""
    x = max(x, _F(-87.0))
    k = np.floor(x * _F(1.4426950408889634) + _F(0.5))
    t = x - k * _F(0.693145751953125) - k * _F(1.4286067653e-06)  # Cody-Waite: ln2 split into hi + lo
    p = _F(1.0) + t * (_F(1.0) + t * (_F(0.5) + t * (_F(1 / 6) + t * (_F(1 / 24) + t * (_F(1 / 120) + t * (
        _F(1 / 720) + t * _F(1 / 5040)))))))  # fmt: skip
    ki = min(max(np.int32(k), np.int32(-127)), np.int32(127))  # stays in the table even for nan/inf input
    return p * _POW2[ki + 127]


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def _sigmoid(x):
    q = _exp(-abs(x))
    return _F(1.0) / (_F(1.0) + q) if x >= 0 else q / (_F(1.0) + q)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def loss_fwd_bwd(scores, cols, col_offset, loss_code, bpreg, elu_param, grad_scale, grad, lane_loss):
    """Per-lane loss and d(sum of losses * grad_scale)/d(scores), float32.

    ``scores`` (B, U): lanes x unique items; ``cols`` (C,): column -> unique item (column b = lane b's target);
    ``col_offset`` (C,) float32: subtracted from the column's score (log-q correction; zeros otherwise). ``grad``
    (B, U) is overwritten; ``lane_loss`` (B,) float64 receives the per-lane losses.
    """
    n_lanes = scores.shape[0]
    n_cols = cols.shape[0]
    alpha = _F(elu_param)
    reg_w = _F(bpreg)
    scale = _F(grad_scale)
    r = np.empty(n_cols, dtype=np.float32)
    act_d = np.ones(n_cols, dtype=np.float32)
    e = np.empty(n_cols, dtype=np.float32)
    sg = np.empty(n_cols, dtype=np.float32)
    dr = np.empty(n_cols, dtype=np.float32)
    use_elu = loss_code != 0 and elu_param > 0
    for b in range(n_lanes):
        row = scores[b]
        for j in range(n_cols):
            r[j] = row[cols[j]] - col_offset[j]
        if use_elu:
            for j in range(n_cols):
                x = r[j]
                ex = alpha * _exp(min(x, _F(0.0)))
                r[j] = x if x > 0 else ex - alpha
                act_d[j] = _F(1.0) if x > 0 else ex
        r_t = r[b]
        loss = 0.0
        if loss_code == 0:  # cross-entropy over all columns
            m = r[0]
            for j in range(n_cols):
                m = max(m, r[j])
            z = _F(0.0)
            for j in range(n_cols):
                e[j] = _exp(r[j] - m)
                z += e[j]
            p_t = e[b] / z
            loss = -math.log(p_t + _EPS)
            c = _F(p_t / (p_t + _EPS)) / z
            for j in range(n_cols):
                dr[j] = c * e[j]
            dr[b] -= _F(p_t / (p_t + _EPS))
        elif n_cols < 2 and loss_code != 2:  # no negatives: nothing to learn from
            for j in range(n_cols):
                dr[j] = _F(0.0)
        elif loss_code == 1 or loss_code == 3:  # bpr-max / top1-max: softmax weights over the negatives
            r[b] = -np.inf  # the target is not a negative
            m = r[0]
            for j in range(n_cols):
                m = max(m, r[j])
            z = _F(0.0)
            for j in range(n_cols):
                e[j] = _exp(r[j] - m)
                z += e[j]
            z -= e[b]
            e[b] = _F(0.0)
            r[b] = r_t
            inv_z = _F(1.0) / z
            for j in range(n_cols):
                e[j] *= inv_z  # now the softmax weights s_j
            if loss_code == 1:
                a = _F(0.0)
                reg = _F(0.0)
                d_t = _F(0.0)
                for j in range(n_cols):
                    s = _sigmoid(r_t - r[j])
                    sg[j] = s
                    a += e[j] * s
                    reg += e[j] * r[j] * r[j]
                    d_t += e[j] * s * (_F(1.0) - s)
                loss = -math.log(a + _EPS) + bpreg * reg
                inv = _F(1.0 / (a + _EPS))
                for j in range(n_cols):
                    s, w, rj = sg[j], e[j], r[j]
                    d_a = w * (s - a) - w * s * (_F(1.0) - s)
                    dr[j] = -inv * d_a + reg_w * w * (_F(2.0) * rj + rj * rj - reg)
                dr[b] = -inv * d_t
            else:
                total = _F(0.0)
                for j in range(n_cols):
                    sg[j] = _sigmoid(r[j] - r_t)
                    dr[j] = _sigmoid(r[j] * r[j])  # temporarily: sigmoid(r_j^2)
                    total += e[j] * (sg[j] + dr[j])
                loss = total
                d_t = _F(0.0)
                for j in range(n_cols):
                    s1, s2, w, rj = sg[j], dr[j], e[j], r[j]
                    d1 = s1 * (_F(1.0) - s1)
                    d_t -= w * d1
                    dr[j] = w * (d1 + s2 * (_F(1.0) - s2) * _F(2.0) * rj) + w * (s1 + s2 - total)
                dr[b] = d_t
        elif loss_code == 2:  # top1: mean over all columns, minus the target's own regularisation
            inv_c = _F(1.0 / n_cols)
            total = _F(0.0)
            d_t = _F(0.0)
            for j in range(n_cols):
                rj = r[j]
                s1 = _sigmoid(rj - r_t)
                s2 = _sigmoid(rj * rj)
                total += s1 + s2
                d1 = s1 * (_F(1.0) - s1)
                d_t -= d1
                dr[j] = (d1 + s2 * (_F(1.0) - s2) * _F(2.0) * rj) * inv_c
            loss = total * inv_c - _sigmoid(r_t * r_t) * inv_c
            dr[b] = (d_t + _F(0.25)) * inv_c  # the j == b term of the sum is sigmoid'(0) = 0.25: take it out
        else:  # bpr: mean over the negatives
            inv_n = _F(1.0 / (n_cols - 1))
            total = 0.0
            d_t = _F(0.0)
            for j in range(n_cols):
                s = _sigmoid(r_t - r[j])
                total -= math.log(s + _EPS)
                g = -(_F(1.0) - s) * inv_n  # d/dx -log(sigmoid(x)) = -(1 - sigmoid(x)) (eps negligible)
                dr[j] = -g
                d_t += g
            s_b = _F(0.5)
            total += math.log(s_b + _EPS)
            loss = total * inv_n
            dr[b] = d_t + (_F(1.0) - s_b) * inv_n
        lane_loss[b] = loss
        out = grad[b]
        out[:] = _F(0.0)
        for j in range(n_cols):
            out[cols[j]] += dr[j] * act_d[j] * scale


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def adagrad_rows(param, acc, vel, rows, grad, lr, momentum):
    """In place on rows ``rows`` (unique) of the 2-D ``param``/``acc``/``vel`` with ``grad`` (len(rows), width)."""
    lr32 = _F(lr)
    mom = _F(momentum)
    eps = _F(1e-6)
    for i in range(rows.shape[0]):
        p, a, g = param[rows[i]], acc[rows[i]], grad[i]
        if momentum > 0:
            v = vel[rows[i]]
            for j in range(p.shape[0]):
                aj = a[j] + g[j] * g[j]
                a[j] = aj
                vj = mom * v[j] + lr32 * g[j] / np.sqrt(aj + eps)
                v[j] = vj
                p[j] -= vj
        else:
            for j in range(p.shape[0]):
                aj = a[j] + g[j] * g[j]
                a[j] = aj
                p[j] -= lr32 * g[j] / np.sqrt(aj + eps)


@numba.njit(cache=True)
def unique_rows(idx, marker, rows_out, inv_out):
    """Distinct values of ``idx`` in first-seen order (into ``rows_out``) and each entry's position among them.

    ``marker`` is a scratch int64 array of size n_items filled with -1; it is restored before returning, so
    the O(len(idx)) pass needs no sort. Returns the number of distinct values.
    """
    n = 0
    for i in range(idx.shape[0]):
        v = idx[i]
        pos = marker[v]
        if pos < 0:
            pos = n
            marker[v] = n
            rows_out[n] = v
            n += 1
        inv_out[i] = pos
    for k in range(n):
        marker[rows_out[k]] = -1
    return n


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def cross_entropy_counts_fwd_bwd(scores, counts, target_pos, grad_scale, grad, lane_loss):
    """Cross-entropy without log-q, in column-multiplicity form: no gather/scatter, one contiguous pass per lane.

    ``scores`` (B, U) holds each distinct column item once; ``counts`` (U,) float32 says how many columns it
    fills (>= 1); lane b's target is ``target_pos[b]``. Same result as `loss_fwd_bwd` on the expanded columns.
    """
    n_lanes, n_unique = scores.shape
    scale = _F(grad_scale)
    e = np.empty(n_unique, dtype=np.float32)
    for b in range(n_lanes):
        row = scores[b]
        m = row[0]
        for u in range(n_unique):
            m = max(m, row[u])
        z = _F(0.0)
        for u in range(n_unique):
            e[u] = counts[u] * _exp(row[u] - m)
            z += e[u]
        t = target_pos[b]
        p_t = _exp(row[t] - m) / z
        lane_loss[b] = -math.log(p_t + _EPS)
        ratio = _F(p_t / (p_t + _EPS))
        c = ratio * scale / z
        out = grad[b]
        for u in range(n_unique):
            out[u] = c * e[u]
        out[t] -= ratio * scale
