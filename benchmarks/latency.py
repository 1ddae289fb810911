"""Per-request serving latency (one click: GRU step from carried state + score all items + top 20), batch 1.

Side by side in one run, for layers=224 over 2k / 38k / 200k items on 1 thread:
  naive      model.score_all + topk under no_grad (the straightforward way)
  float32    g4r_tune.latency: item matrix transposed + contiguous, preallocated buffers, inference_mode
  float16    float16 scores + exact float32 re-rank of the top 64 (identical top-20, proven per request)
  stateless  float32, but the whole session prefix re-run on every request (no carried state)

    python benchmarks/latency.py [--requests 10000] [--items 2000 38000 200000] [--threads 1] [--test TEST.tsv]

Sessions: click sequences of the test file when given (item ids mapped onto the model's items), else random
sessions with geometric lengths (mean 6); latency depends on the number of items and session lengths, not on
which items are clicked. Weights are the model's initialisation (same bytes to stream as a trained model).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from g4r_tune.config import Hyperparams
from g4r_tune.data.sessions import ItemIndex, SessionData
from g4r_tune.latency import LatencyStats, measure_latency, replay_requests, summarize_timings, synthetic_sessions
from g4r_tune.model import GRU4Rec

PARAMS = "loss=bpr-max,layers=224,batch_size=80,constrained_embedding=True"


def naive_latency(model: GRU4Rec, data: SessionData, n_requests: int, warmup: int) -> LatencyStats:
    """The straightforward request: no_grad, model.score_all, torch.topk."""
    items = torch.as_tensor(data.items)
    timings = np.empty(n_requests, dtype=np.int64)
    hidden = model.init_hidden(1)
    with torch.no_grad():
        for i, req in enumerate(replay_requests(data, warmup + n_requests)):
            pos = int(data.offsets[req.session]) + req.position
            if req.position == 0:
                hidden = model.init_hidden(1)
            t0 = time.perf_counter_ns()
            out, hidden = model.step(items[pos : pos + 1], hidden)
            top = torch.topk(model.score_all(out), 20).indices[0].numpy()
            elapsed = time.perf_counter_ns() - t0
            del top
            if i >= warmup:
                timings[i - warmup] = elapsed
    return summarize_timings(
        timings,
        variant="stateful",
        device="cpu",
        threads=torch.get_num_threads(),
        n_items=model.n_items,
        top_n=20,
        precision="naive float32",
    )


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
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={args.threads}, "
        f"{args.requests} timed requests after {args.warmup} warm-up, {PARAMS}"
    )
    print("| n_items | variant | p50 ms | p95 ms | p99 ms | p99.9 ms | mean ms | max ms | req/s | p99 vs naive |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n_items in args.items:
        model = GRU4Rec(Hyperparams.from_param_string(PARAMS), n_items).eval()
        data = sessions_for(n_items, args.test)
        runs = [("naive", naive_latency(model, data, args.requests, args.warmup))]
        for precision in ("float32", "float16"):
            runs.append(
                (
                    precision,
                    measure_latency(
                        model,
                        data,
                        n_requests=args.requests,
                        warmup=args.warmup,
                        threads=args.threads,
                        precision=precision,
                    ),
                )
            )
        runs.append(
            (
                "stateless float32",
                measure_latency(
                    model,
                    data,
                    n_requests=args.requests // 4,
                    warmup=args.warmup // 4,
                    threads=args.threads,
                    stateless=True,
                ),
            )
        )
        base = runs[0][1].p99_ms
        for name, s in runs:
            extra = f" ({s.fallbacks} fallbacks)" if s.precision == "float16" else ""
            print(
                f"| {n_items:,} | {name}{extra} | {s.p50_ms:.3f} | {s.p95_ms:.3f} | {s.p99_ms:.3f} | "
                f"{s.p999_ms:.3f} | {s.mean_ms:.3f} | {s.max_ms:.3f} | {s.requests_per_second:,.0f} | "
                f"{base / s.p99_ms:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
