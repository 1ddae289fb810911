"""Per-request serving latency of a trained GRU4Rec, the way a recommender service answers one click.

A request = one click of a live session: one GRU step from that session's carried hidden state, scores for all
items, the top-n item ids (batch size 1). Scoring streams the whole item matrix once per request, so it is
memory-bandwidth bound: the item matrix is stored transposed and contiguous for the matvec, buffers are
preallocated, and an optional float16 pass halves the bytes read, followed by an exact float32 re-rank of a short
list that is proven (with a rounding-error bound) to contain the float32 top-n; otherwise it falls back.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import ConfigError, DataError, must_be

PRECISIONS: tuple[str, ...] = ("float32", "float16", "int16")
_FP16_UNIT_ROUNDOFF = 2.0**-11


class ServableModel(Protocol):
    """The part of `g4r_tune.model.GRU4Rec` that serving needs."""

    n_items: int

    def init_hidden(self, batch: int, device: Any = None) -> list[torch.Tensor]: ...

    def step(self, items: torch.Tensor, hidden: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def output_weights(self) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one latency run; times in milliseconds."""

    variant: str  # "stateful" (carried hidden state) or "stateless" (whole prefix re-run per request)
    n_requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    requests_per_second: float
    device: str
    threads: int
    torch_version: str
    n_items: int
    top_n: int
    precision: str
    fallbacks: int = 0  # float16 requests that needed the full float32 pass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile_nearest_rank(sorted_values: np.ndarray, q: float) -> float:
    """The q-th percentile by the nearest-rank method: the smallest observed value with at least q% of values <= it.

    Always an observed timing (no interpolation), so "p99 = 2.1 ms" means 99% of requests took at most 2.1 ms.
    """
    n = len(sorted_values)
    if n == 0:
        raise DataError("no timings to summarise")
    if not 0.0 < q <= 100.0:
        raise ConfigError(must_be("q", q, "in (0, 100]"))
    rank = math.ceil(q / 100.0 * n - 1e-9)  # 1-based; the epsilon keeps q*n/100 == integer exact
    return float(sorted_values[max(rank, 1) - 1])


def summarize_timings(
    timings_ns: np.ndarray,
    *,
    variant: str,
    device: str,
    threads: int,
    n_items: int,
    top_n: int,
    precision: str,
    fallbacks: int = 0,
) -> LatencyStats:
    """Percentiles (nearest rank), mean, max and throughput of per-request timings in nanoseconds."""
    values = np.sort(np.asarray(timings_ns, dtype=np.float64)) / 1e6  # ms
    if len(values) == 0:
        raise DataError("no timings to summarise")
    return LatencyStats(
        variant=variant,
        n_requests=len(values),
        p50_ms=percentile_nearest_rank(values, 50),
        p95_ms=percentile_nearest_rank(values, 95),
        p99_ms=percentile_nearest_rank(values, 99),
        p999_ms=percentile_nearest_rank(values, 99.9),
        mean_ms=float(values.mean()),
        max_ms=float(values[-1]),
        requests_per_second=float(1000.0 * len(values) / values.sum()),
        device=device,
        threads=threads,
        torch_version=torch.__version__,
        n_items=n_items,
        top_n=top_n,
        precision=precision,
        fallbacks=fallbacks,
    )


class TopNScorer:
    """Scores all items for one output vector and returns the top-n dense item indices, best first.

    ``float32``: ``By + out @ Wy.T`` with Wy stored as a contiguous (H, n_items) matrix, written into a
    preallocated buffer. ``float16``: the same in float16 (bias folded in as an extra row), top ``shortlist``
    candidates, exact float32 re-rank; if the error bound cannot prove the float32 top-n is inside the shortlist,
    the request is answered by the float32 path (counted in ``fallbacks``). ``int16``: the same with fixed-point
    scores from `g4r_tune.fixed_point` (CPU only). All give the float32 top-n.
    """

    def __init__(
        self,
        weights: torch.Tensor,
        bias: torch.Tensor,
        top_n: int = 20,
        precision: str = "float32",
        shortlist: int = 64,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(must_be("precision", precision, f"one of {', '.join(PRECISIONS)}"))
        n_items, hidden = weights.shape
        if not 1 <= top_n <= n_items:
            raise ConfigError(must_be("top_n", top_n, f"in [1, {n_items}] (the number of items)"))
        self.top_n, self.precision, self.fallbacks, self.n_items = top_n, precision, 0, n_items
        self.shortlist = min(max(shortlist, top_n + 1), n_items)
        w = weights.detach().float()
        self.w_rows = w.contiguous()  # (N, H) for the exact re-rank gather
        self.bias = bias.detach().float().contiguous()  # (N,)
        self.w_t = w.t().contiguous()  # (H, N): the matvec streams it row by row
        self.scores = torch.empty(1, n_items, dtype=torch.float32, device=w.device)
        self.top_values = torch.empty(1, top_n, dtype=torch.float32, device=w.device)
        self.top_idx = torch.empty(1, top_n, dtype=torch.int64, device=w.device)
        if precision == "float16":
            augmented = torch.cat([w, self.bias[:, None]], dim=1)  # (N, H+1)
            self.w_t16 = augmented.t().contiguous().half()  # (H+1, N)
            self.x16 = torch.ones(1, hidden + 1, dtype=torch.float16, device=w.device)
            self.scores16 = torch.empty(1, n_items, dtype=torch.float16, device=w.device)
            # |fp16 score - exact| <= (2u + u + fp32 accumulation) * (sum_h |x_h W_ih| + |b_i|)
            #                      <= c * (||x|| * max_i ||W_i|| + max_i |b_i|)   (Cauchy-Schwarz)
            self.max_row_norm = float(w.norm(dim=1).max())
            self.max_abs_bias = float(self.bias.abs().max())
            self.error_factor = 4.0 * _FP16_UNIT_ROUNDOFF + (hidden + 1) * 2.0**-23

        if precision == "int16":
            from g4r_tune.fixed_point import FixedPointScores

            if w.device.type != "cpu":
                raise ConfigError(must_be("precision", precision, "float32 or float16 on a GPU (int16 is CPU only)"))
            self.fixed = FixedPointScores(w.numpy(), self.bias.numpy())
            self.fixed_scores = torch.from_numpy(self.fixed.out)  # shares memory with the kernel's output

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        """(1, H) output -> (top_n,) dense item indices, highest score first."""
        if self.precision == "int16":
            exact = self._fixed_point_top(out)
            if exact is not None:
                return exact
            self.fallbacks += 1
        elif self.precision == "float16":
            exact = self._shortlist_top(out)
            if exact is not None:
                return exact
            self.fallbacks += 1
        torch.addmm(self.bias[None, :], out, self.w_t, out=self.scores)  # (1, N)
        torch.topk(self.scores, self.top_n, dim=1, sorted=True, out=(self.top_values, self.top_idx))
        return self.top_idx[0]

    def _fixed_point_top(self, out: torch.Tensor) -> torch.Tensor | None:
        _, bound = self.fixed(out[0].numpy())
        short_values, candidates = torch.topk(self.fixed_scores, self.shortlist, sorted=True)
        return self._exact_rerank(out, short_values, candidates, bound)

    def _exact_rerank(
        self, out: torch.Tensor, short_values: torch.Tensor, candidates: torch.Tensor, bound: float
    ) -> torch.Tensor | None:
        """Exact float32 top-n of the shortlist, or None when ``bound`` cannot prove no other item belongs."""
        exact = self.w_rows[candidates] @ out[0] + self.bias[candidates]  # (shortlist,) float32
        best_values, order = torch.topk(exact, self.top_n, sorted=True)
        # Any item outside the shortlist scores <= the last approximate value + bound; it cannot enter the top-n
        # while that is below the n-th exact score (2x: float32 re-rank vs full matmul rounding differences).
        if self.shortlist < self.n_items and float(short_values[-1]) + 2 * bound >= float(best_values[-1]):
            return None
        return candidates[order]

    def _shortlist_top(self, out: torch.Tensor) -> torch.Tensor | None:
        self.x16[0, :-1].copy_(out[0])
        torch.mm(self.x16, self.w_t16, out=self.scores16)  # (1, N) float16, float32 accumulation on CPU
        short_values, candidates = torch.topk(self.scores16[0], self.shortlist, sorted=True)
        bound = self.error_factor * (float(out.norm()) * self.max_row_norm + self.max_abs_bias)
        return self._exact_rerank(out, short_values, candidates, bound)


@dataclass(frozen=True)
class Request:
    session: int  # index of the session in the replayed data
    position: int  # 0-based click position inside the session


def replay_requests(data: SessionData, n_requests: int | None) -> Iterator[Request]:
    """Test sessions click by click in their order, cycling through the file until ``n_requests`` are produced
    (forever with ``None``)."""
    if data.n_events == 0:
        raise DataError("no test clicks to replay (is the test file empty, or are all its items unknown?)")
    lengths = data.session_lengths
    produced = 0
    while True:
        for s, length in enumerate(lengths):
            for pos in range(int(length)):
                if n_requests is not None and produced >= n_requests:
                    return
                produced += 1
                yield Request(s, pos)


def measure_latency(
    model: ServableModel,
    data: SessionData,
    *,
    n_requests: int = 10_000,
    warmup: int = 500,
    top_n: int = 20,
    threads: int = 1,
    device: str = "cpu",
    precision: str = "float32",
    stateless: bool = False,
    item_ids: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LatencyStats:
    """Time ``n_requests`` requests (after ``warmup`` untimed ones) with ``time.perf_counter_ns``.

    ``stateless=True`` re-runs the session's whole prefix on every request (no carried state). ``item_ids``
    maps dense indices to the ids returned to the caller (decoding is part of the request).
    """
    if n_requests < 1:
        raise ConfigError(must_be("requests", n_requests, ">= 1"))
    if threads < 1:
        raise ConfigError(must_be("threads", threads, ">= 1"))
    torch_device = torch.device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.inference_mode():
            weights, bias = model.output_weights()
            scorer = TopNScorer(weights.to(torch_device), bias.to(torch_device), top_n=top_n, precision=precision)
            run = RequestReplayer(model, data, scorer, torch_device, stateless, item_ids)
            run.time(warmup, None)
            scorer.fallbacks = 0
            timings = run.time(n_requests, progress)
    finally:
        torch.set_num_threads(previous_threads)
        if was_training and hasattr(model, "train"):
            model.train()
    return summarize_timings(
        timings,
        variant="stateless" if stateless else "stateful",
        device=_describe_device(torch_device),
        threads=threads,
        n_items=int(weights.shape[0]),
        top_n=top_n,
        precision=precision,
        fallbacks=scorer.fallbacks,
    )


class RequestReplayer:
    """Replays clicks through model + scorer, carrying one hidden state per live session.

    Successive ``time`` calls continue the replay where the last one stopped, so that benchmarks can interleave
    blocks of several variants (call inside ``torch.inference_mode()`` with the model in eval mode)."""

    def __init__(
        self,
        model: ServableModel,
        data: SessionData,
        scorer: TopNScorer,
        device: torch.device,
        stateless: bool,
        item_ids: np.ndarray | None,
    ) -> None:
        self.model, self.data, self.scorer, self.device = model, data, scorer, device
        self.stateless, self.item_ids = stateless, item_ids
        self.items = torch.as_tensor(np.ascontiguousarray(data.items), dtype=torch.int64, device=device)
        self.offsets = data.offsets
        self.hidden: list[torch.Tensor] = []
        self.requests = replay_requests(data, None)

    def time(self, n_requests: int, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        timings = np.empty(n_requests, dtype=np.int64)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else None
        every = max(n_requests // 100, 1)
        for i in range(n_requests):
            req = next(self.requests)
            start = int(self.offsets[req.session])
            if req.position == 0 and not self.stateless:
                self.hidden = self.model.init_hidden(1, device=self.device)  # a new session arrives
            t0 = time.perf_counter_ns()
            if self.stateless:
                hidden = self.model.init_hidden(1, device=self.device)
                for pos in range(start, start + req.position + 1):
                    out, hidden = self.model.step(self.items[pos : pos + 1], hidden)
            else:
                out, self.hidden = self.model.step(
                    self.items[start + req.position : start + req.position + 1], self.hidden
                )
            top = self.scorer(out)
            if sync is not None:
                sync()
            top_np = top.cpu().numpy()
            if self.item_ids is not None:
                top_np = self.item_ids[top_np]
            timings[i] = time.perf_counter_ns() - t0
            if progress is not None and (i + 1) % every == 0:
                progress(i + 1, n_requests)
        return timings


def _describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({cpu_model()})"


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synthetic_sessions(n_items: int, n_sessions: int = 2000, mean_length: float = 6.0, seed: int = 0) -> SessionData:
    """Random click sessions over ``n_items`` items: latency does not depend on which items are clicked, only on
    how many there are and on session lengths; used when no test file is available (benchmarks, fallback)."""
    from g4r_tune.data.sessions import ItemIndex

    rng = np.random.default_rng(seed)
    lengths = np.maximum(rng.geometric(1.0 / mean_length, size=n_sessions), 1)
    items = rng.integers(0, n_items, size=int(lengths.sum()), dtype=np.int64)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    times = np.arange(len(items), dtype=np.float64)
    return SessionData(items, offsets, times, np.arange(n_sessions), ItemIndex(np.arange(n_items, dtype=np.int64)))
