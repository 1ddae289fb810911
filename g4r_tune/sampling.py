"""Shared negative samples, drawn in large precomputed blocks with p(item) ∝ support ** sample_alpha.

Drawing one block of millions of ids at once (inverse CDF by binary search on the cumulative weights) makes
the per-step cost a slice. The sampler is seeded and its state (generator state at the current block's start +
position in the block) is plain data, so a resumed run draws exactly the samples an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from g4r_tune.errors import DataError

DEFAULT_BLOCK_IDS = 2_000_000  # ids per block (16 MB of int64)


def sampling_weights(support: np.ndarray, alpha: float) -> np.ndarray:
    """support ** alpha, with items never seen in training never drawn."""
    support = np.asarray(support, dtype=np.float64)
    return np.where(support > 0, np.power(np.maximum(support, 1e-300), alpha), 0.0)


class NegativeSampler:
    """``next()`` returns the next ``(n_sample,)`` int64 array of item indices."""

    def __init__(self, support: np.ndarray, n_sample: int, alpha: float, seed: int, block_ids: int = DEFAULT_BLOCK_IDS):
        weights = sampling_weights(support, alpha)
        total = weights.sum()
        if n_sample > 0 and not total > 0:
            raise DataError("cannot draw negative samples: no item has training support")
        self.n_sample = int(n_sample)
        self.cdf = np.cumsum(weights) / total if total > 0 else weights
        self.steps_per_block = max(1, int(block_ids) // max(1, self.n_sample))
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._block_state: dict = {}
        self._block = np.zeros((0, self.n_sample), dtype=np.int64)
        self._pointer = 0

    def _refill(self) -> None:
        self._block_state = self.rng.bit_generator.state
        u = self.rng.random(self.steps_per_block * self.n_sample)
        idx = np.searchsorted(self.cdf, u, side="right")
        np.minimum(idx, len(self.cdf) - 1, out=idx)  # guards u rounding up against the last cdf value
        self._block = idx.astype(np.int64).reshape(self.steps_per_block, self.n_sample)
        self._pointer = 0

    def next(self) -> np.ndarray:
        if self.n_sample == 0:
            return self._block[:0, :].reshape(0)
        if self._pointer >= len(self._block):
            self._refill()
        out = self._block[self._pointer]
        self._pointer += 1
        return out

    def state_dict(self) -> dict:
        if not self._block_state:  # nothing drawn yet
            return {"rng": _encode_state(self.rng.bit_generator.state), "pointer": -1}
        return {"rng": _encode_state(self._block_state), "pointer": self._pointer}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = _decode_state(state["rng"])
        if state["pointer"] < 0:
            self._block, self._pointer, self._block_state = self._block[:0], 0, {}
            return
        self._refill()
        self._pointer = int(state["pointer"])


def _encode_state(state: dict) -> dict:
    """PCG64 state as strings: its 128-bit integers do not fit a tensor or a safe-loaded int."""
    return {
        "bit_generator": state["bit_generator"],
        "state": str(state["state"]["state"]),
        "inc": str(state["state"]["inc"]),
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def _decode_state(enc: dict) -> dict:
    return {
        "bit_generator": enc["bit_generator"],
        "state": {"state": int(enc["state"]), "inc": int(enc["inc"])},
        "has_uint32": int(enc["has_uint32"]),
        "uinteger": int(enc["uinteger"]),
    }
