"""Per-request serving latency (one click: GRU step from carried state + score all items + top 20), batch 1.

Side by side in one run, for layers=224 over 2k / 38k / 200k items on 1 thread:
  naive      model.score_all + topk under no_grad (the straightforward way)
(all four timed in alternating blocks of 250 requests, so that noise from other processes hits them alike)
  float32    g4r_tune.latency: item matrix transposed + contiguous, preallocated buffers, inference_mode
  float16    float16 scores + exact float32 re-rank of the top 64 (identical top-20, proven per request)
  int16      fixed-point int16 item matrix, int32 numba kernel, same exact re-rank and proof
  stateless  float32, but the whole session prefix re-run on every request (no carried state)

    python benchmarks/latency.py [--requests 10000] [--items 2000 38000 200000] [--threads 1] [--test TEST.tsv]

Sessions: click sequences of the test file when given (item ids mapped onto the model's items), else random
sessions with geometric lengths (mean 6); latency depends on the number of items and session lengths, not on
which items are clicked. Weights are the model's initialisation (same bytes to stream as a trained model).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from g4r_tune.config import Hyperparams
from g4r_tune.data.sessions import ItemIndex, SessionData
from g4r_tune.latency import (
    LatencyStats,
    RequestReplayer,
    TopNScorer,
    cpu_model,
    summarize_timings,
    synthetic_sessions,
)
from g4r_tune.model import GRU4Rec

CPU = torch.device("cpu")
PARAMS = "loss=bpr-max,layers=224,batch_size=80,constrained_embedding=True"


class NaiveScorer:
    """The straightforward scoring: model.score_all (Wy stored (N, H)) + torch.topk, run under no_grad."""

    def __init__(self, model: GRU4Rec, top_n: int = 20) -> None:
        self.model, self.top_n, self.fallbacks = model, top_n, 0

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        return torch.topk(self.model.score_all(out), self.top_n).indices[0]


def interleaved(
    model: GRU4Rec, data: SessionData, n_requests: int, warmup: int, threads: int, block: int = 250
) -> list[tuple[str, LatencyStats]]:
    """All variants timed in alternating blocks of ``block`` requests, so that machine noise hits them alike."""
    weights, bias = model.output_weights()
    variants: list[tuple[str, RequestReplayer, Any, str, bool, int]] = [
        (
            "naive",
            RequestReplayer(model, data, NaiveScorer(model), CPU, False, None),
            torch.no_grad,
            "naive",
            False,
            n_requests,
        ),
    ]
    for precision in ("float32", "float16", "int16"):
        scorer = TopNScorer(weights.detach(), bias.detach(), top_n=20, precision=precision)
        variants.append(
            (
                precision,
                RequestReplayer(model, data, scorer, CPU, False, None),
                torch.inference_mode,
                precision,
                False,
                n_requests,
            )
        )
    scorer = TopNScorer(weights.detach(), bias.detach(), top_n=20)
    variants.append(
        (
            "stateless float32",
            RequestReplayer(model, data, scorer, CPU, True, None),
            torch.inference_mode,
            "float32",
            True,
            n_requests // 4,
        )
    )  # prefixes: 4x fewer requests
    timings: dict[str, list[np.ndarray]] = {name: [] for name, *_ in variants}
    for _name, replayer, mode, *_ in variants:
        with mode():
            replayer.time(warmup)
        if hasattr(replayer.scorer, "fallbacks"):
            replayer.scorer.fallbacks = 0
    rounds = max(n_requests // block, 1)
    for _ in range(rounds):
        for name, replayer, mode, _, _, total in variants:
            with mode():
                timings[name].append(replayer.time(max(total // rounds, 1)))
    return [
        (
            name,
            summarize_timings(
                np.concatenate(timings[name]),
                variant="stateless" if stateless else "stateful",
                device="cpu",
                threads=threads,
                n_items=model.n_items,
                top_n=20,
                precision=precision,
                fallbacks=getattr(replayer.scorer, "fallbacks", 0),
            ),
        )
        for name, replayer, _, precision, stateless, _ in variants
    ]


def sessions_for(n_items: int, test_path: str | None) -> SessionData:
    if test_path is None:
        return synthetic_sessions(n_items, n_sessions=3000, seed=0)
    from g4r_tune.data.loader import load_sessions

    real = load_sessions(test_path).data
    items = real.items % n_items  # keep the real session structure, map ids onto this model's items
    return SessionData(items, real.offsets, real.times, real.session_ids, ItemIndex(np.arange(n_items)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--items", type=int, nargs="+", default=[2000, 38000, 200000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--test", default=None, help="a GRU4Rec TSV whose sessions are replayed")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    print(
        f"# torch {torch.__version__}, {cpu_model()}, threads={args.threads}, "
        f"{args.requests} timed requests after {args.warmup} warm-up, {PARAMS}"
    )
    print(
        "| n_items | variant | p50 ms | p95 ms | p99 ms | p99.9 ms | mean ms | max ms | req/s "
        "| p50 vs naive | p99 vs naive |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n_items in args.items:
        model = GRU4Rec(Hyperparams.from_param_string(PARAMS), n_items).eval()
        data = sessions_for(n_items, args.test)
        runs = interleaved(model, data, args.requests, args.warmup, args.threads)
        base, base50 = runs[0][1].p99_ms, runs[0][1].p50_ms
        for name, s in runs:
            extra = f" ({s.fallbacks} fallbacks)" if s.precision in ("float16", "int16") else ""
            print(
                f"| {n_items:,} | {name}{extra} | {s.p50_ms:.3f} | {s.p95_ms:.3f} | {s.p99_ms:.3f} | "
                f"{s.p999_ms:.3f} | {s.mean_ms:.3f} | {s.max_ms:.3f} | {s.requests_per_second:,.0f} | "
                f"{base50 / s.p50_ms:.2f}x | {base / s.p99_ms:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
