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


@numba.njit(cache=True, fastmath=False)
def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def loss_fwd_bwd(scores, cols, col_offset, loss_code, bpreg, elu_param, grad_scale, grad, lane_loss):
    """Per-lane loss and d(sum of losses * grad_scale)/d(scores).

    ``scores`` (B, U): lanes x unique items; ``cols`` (C,): column -> unique item (column b = lane b's target);
    ``col_offset`` (C,): subtracted from the column's score (log-q correction; zeros otherwise). ``grad`` (B, U)
    is overwritten; ``lane_loss`` (B,) receives the per-lane losses.
    """
    n_lanes = scores.shape[0]
    n_cols = cols.shape[0]
    r = np.empty(n_cols, dtype=np.float64)
    dr = np.empty(n_cols, dtype=np.float64)
    act_d = np.empty(n_cols, dtype=np.float64)
    grad[:, :] = 0.0
    for b in range(n_lanes):
        row = scores[b]
        for j in range(n_cols):
            x = row[cols[j]] - col_offset[j]
            if loss_code != 0 and elu_param > 0 and x <= 0:
                e = elu_param * math.exp(x)
                r[j] = e - elu_param
                act_d[j] = e
            else:
                r[j] = x
                act_d[j] = 1.0
        r_t = r[b]
        loss = 0.0
        if loss_code == 0:  # cross-entropy
            m = r[0]
            for j in range(n_cols):
                m = max(m, r[j])
            z = 0.0
            for j in range(n_cols):
                dr[j] = math.exp(r[j] - m)
                z += dr[j]
            p_t = dr[b] / z
            loss = -math.log(p_t + _EPS)
            c = p_t / (p_t + _EPS)
            for j in range(n_cols):
                dr[j] = c * dr[j] / z
            dr[b] -= c
        elif loss_code == 1 or loss_code == 3:  # bpr-max, top1-max: softmax weights over the negatives
            m = -np.inf
            for j in range(n_cols):
                if j != b:
                    m = max(m, r[j])
            z = 0.0
            for j in range(n_cols):
                if j != b:
                    z += math.exp(r[j] - m)
            if n_cols < 2:
                dr[:] = 0.0
            elif loss_code == 1:
                a = 0.0
                reg = 0.0
                for j in range(n_cols):
                    if j != b:
                        s = math.exp(r[j] - m) / z
                        sg = _sigmoid(r_t - r[j])
                        a += s * sg
                        reg += s * r[j] * r[j]
                loss = -math.log(a + _EPS) + bpreg * reg
                inv = 1.0 / (a + _EPS)
                d_t = 0.0
                for j in range(n_cols):
                    if j == b:
                        continue
                    s = math.exp(r[j] - m) / z
                    sg = _sigmoid(r_t - r[j])
                    dsg = sg * (1.0 - sg)
                    d_t += s * dsg
                    d_a = -s * dsg + s * (sg - a)
                    d_reg = 2.0 * s * r[j] + s * r[j] * r[j] - s * reg
                    dr[j] = -inv * d_a + bpreg * d_reg
                dr[b] = -inv * d_t
            else:
                total = 0.0
                for j in range(n_cols):
                    if j != b:
                        s = math.exp(r[j] - m) / z
                        total += s * (_sigmoid(r[j] - r_t) + _sigmoid(r[j] * r[j]))
                loss = total
                d_t = 0.0
                for j in range(n_cols):
                    if j == b:
                        continue
                    s = math.exp(r[j] - m) / z
                    s1 = _sigmoid(r[j] - r_t)
                    s2 = _sigmoid(r[j] * r[j])
                    d1 = s1 * (1.0 - s1)
                    d_t -= s * d1
                    dr[j] = s * (d1 + s2 * (1.0 - s2) * 2.0 * r[j]) + s * (s1 + s2 - total)
                dr[b] = d_t
        elif loss_code == 2:  # top1
            inv_c = 1.0 / n_cols
            d_t = 0.0
            for j in range(n_cols):
                s1 = _sigmoid(r[j] - r_t)
                s2 = _sigmoid(r[j] * r[j])
                loss += (s1 + s2) * inv_c
                if j != b:
                    d1 = s1 * (1.0 - s1)
                    d_t -= d1 * inv_c
                    dr[j] = (d1 + s2 * (1.0 - s2) * 2.0 * r[j]) * inv_c
            loss -= _sigmoid(r_t * r_t) * inv_c
            dr[b] = d_t
        else:  # bpr, mean over the negatives
            n_neg = max(n_cols - 1, 1)
            d_t = 0.0
            for j in range(n_cols):
                if j == b:
                    continue
                sg = _sigmoid(r_t - r[j])
                loss -= math.log(sg + _EPS) / n_neg
                g = -sg * (1.0 - sg) / (sg + _EPS) / n_neg
                d_t += g
                dr[j] = -g
            dr[b] = d_t
        lane_loss[b] = loss
        out = grad[b]
        for j in range(n_cols):
            out[cols[j]] += dr[j] * act_d[j] * grad_scale


@numba.njit(cache=True)
def adagrad_rows(param, acc, vel, rows, grad, lr, momentum):
    """In place on rows ``rows`` (unique) of the 2-D ``param``/``acc``/``vel`` with ``grad`` (len(rows), width)."""
    width = param.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(width):
            g = grad[i, j]
            a = acc[r, j] + g * g
            acc[r, j] = a
            step = lr * g / math.sqrt(a + 1e-6)
            if momentum > 0:
                v = momentum * vel[r, j] + step
                vel[r, j] = v
                param[r, j] -= v
            else:
                param[r, j] -= step


@numba.njit(cache=True)
def adagrad_dense(param, acc, vel, grad, lr, momentum):
    """In place on flat arrays."""
    for j in range(param.shape[0]):
        g = grad[j]
        a = acc[j] + g * g
        acc[j] = a
        step = lr * g / math.sqrt(a + 1e-6)
        if momentum > 0:
            v = momentum * vel[j] + step
            vel[j] = v
            param[j] -= v
        else:
            param[j] -= step


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


@numba.njit(cache=True)
def mark_positions(inv, n_unique, out):
    """Sorted distinct values of ``inv`` (positions < n_unique) into ``out``; returns how many."""
    seen = np.zeros(n_unique, dtype=np.bool_)
    for i in range(inv.shape[0]):
        seen[inv[i]] = True
    n = 0
    for k in range(n_unique):
        if seen[k]:
            out[n] = k
            n += 1
    return n
