"""Fixed-point item scores for serving on CPU: the item matrix as int16 (half the bytes of float32), int32
accumulation in a numba kernel, and a rigorous bound on the difference to the exact float32 scores.

Scoring all items streams the whole item matrix once per request (memory-bandwidth bound), so halving its bytes
roughly halves the time; the bound lets `g4r_tune.latency.TopNScorer` prove that an exact float32 re-rank of a
short list returns exactly the float32 top-n (or fall back to float32 when it cannot).
"""

from __future__ import annotations

import math

import numpy as np

_INT32_MAX = 2**31 - 1


def _kernel():
    """Compiled on first use (numba import and JIT stay out of module import)."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def scores_int(wq: np.ndarray, xq: np.ndarray, out: np.ndarray) -> None:
        n, h = wq.shape
        for i in range(n):
            acc = np.int32(0)
            for j in range(h):  # int16 x int16 -> int32 sums: vectorises; a float epilogue here would stop that
                acc += np.int32(wq[i, j]) * np.int32(xq[j])
            out[i] = acc

    return scores_int


_SCORES_INT = None


class FixedPointScores:
    """``scores(x) ~= W @ x + b`` with W and x rounded to ``q_max`` levels; ``bound(x)`` caps the error."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray) -> None:
        global _SCORES_INT
        if _SCORES_INT is None:
            _SCORES_INT = _kernel()
        w = np.ascontiguousarray(weights, dtype=np.float32)  # (N, H)
        n_items, hidden = w.shape
        # the largest level count whose products cannot overflow int32 over H terms: H * q_max^2 <= 2^31 - 1
        self.q_max = min(int(math.isqrt(_INT32_MAX // max(hidden, 1))), 32767)
        max_abs = float(np.abs(w).max()) if w.size else 0.0
        self.w_scale = max_abs / self.q_max if max_abs > 0 else 1.0
        self.wq = np.rint(w / self.w_scale).astype(np.int16)  # (N, H), |wq| <= q_max
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self.max_row_l1 = float(np.abs(w.astype(np.float64)).sum(axis=1).max()) if w.size else 0.0
        self.max_abs_w = max_abs
        self.max_abs_bias = float(np.abs(self.bias).max()) if self.bias.size else 0.0
        self.hidden = hidden
        self.xq = np.empty(hidden, dtype=np.int16)  # int16 x int16 -> int32 is the fast (pmaddwd) pattern
        self.acc = np.empty(n_items, dtype=np.int32)
        self.out = np.empty(n_items, dtype=np.float32)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """(H,) float32 -> ((N,) approximate scores, a bound on |approximate - exact| for every item)."""
        x_abs = np.abs(x)
        x_max, x_l1 = float(x_abs.max()), float(x_abs.sum())
        x_scale = x_max / self.q_max if x_max > 0 else 1.0
        self.xq[:] = np.rint(x / x_scale)
        _SCORES_INT(self.wq, self.xq, self.acc)
        np.multiply(self.acc, np.float32(self.w_scale * x_scale), out=self.out, casting="unsafe")
        self.out += self.bias
        # W = sw*Wq + dW, x = sx*xq + dx with |dW| <= sw/2, |dx| <= sx/2:
        # |W.x - sw*sx*Wq.xq| <= sx/2 * ||W_i||_1 + sw/2 * ||x||_1 + 3/4 * H * sw * sx,
        # plus float32 rounding of the int32 -> float conversion, the scale product and the bias add.
        quantisation = 0.5 * x_scale * self.max_row_l1 + 0.5 * self.w_scale * x_l1
        quantisation += 0.75 * self.hidden * self.w_scale * x_scale
        rounding = 2.0**-21 * (x_l1 * self.max_abs_w + quantisation + self.max_abs_bias)
        return self.out, quantisation + rounding
