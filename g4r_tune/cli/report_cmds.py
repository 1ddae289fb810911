"""CLI: `report` (experiment folders -> report.md / report.html / plots / tuned YAMLs) and `latency` (per-request
serving latency of a saved model). Handlers parse, delegate and render; heavy modules are imported lazily."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from g4r_tune.errors import ConfigError, DataError


def register(sub: argparse._SubParsersAction) -> None:
    """Add `report` and `latency` to the top-level parser."""
    rep = sub.add_parser(
        "report",
        help="write the report of one or more experiment folders (tuned YAMLs, latency, convergence, comparison)",
        description="Read experiment folders written by `g4r-tune SPEC.yaml` (JSON/CSV only, nothing unpickled) "
        "and write report.md, report.html (self-contained), plots/*.png, trials.csv and tuned/<rank>.yaml. "
        "With several folders, a dataset x loss comparison table is added.",
    )
    rep.add_argument("experiments", nargs="+", metavar="EXPERIMENT_DIR", help="experiment folder(s)")
    rep.add_argument("--out", metavar="DIR", help="output folder (default reports/<experiment name>)")
    rep.add_argument(
        "--top-k",
        type=int,
        default=None,
        metavar="N",
        help="configurations in the top table (default the spec's report.top_k, else 3)",
    )
    rep.add_argument(
        "--latency-requests",
        type=int,
        default=10_000,
        metavar="N",
        help="timed requests per checkpoint (default 10000)",
    )
    rep.add_argument("--threads", type=int, default=1, help="threads for the latency measurement (default 1)")
    rep.add_argument("--p99-budget-ms", type=float, default=None, help="override the spec's p99 budget")
    rep.add_argument("--no-latency", action="store_true", help="skip the checkpoint latency measurements")
    rep.add_argument("--no-final", action="store_true", help="skip the final retrain on train_full / test")
    rep.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds of the final check (default 3)")
    rep.add_argument(
        "--tolerance",
        type=float,
        default=0.001,
        help="convergence tolerance, relative to the best value (default 0.001 = 0.1%%)",
    )
    rep.set_defaults(func=run_report)

    lat = sub.add_parser(
        "latency",
        help="per-request serving latency of a saved model (p50/p95/p99/p99.9 ms, requests/s)",
        description="Replay TEST.tsv click by click: each click = one GRU step from the session's carried hidden "
        "state, scores for all items, top 20 ids (batch 1). Warms up, then times --requests requests; also the "
        "stateless variant (whole session prefix re-run per request).",
    )
    lat.add_argument("model_path", metavar="MODEL", help="checkpoint folder (from `train --save` or a search trial)")
    lat.add_argument("--test", required=True, metavar="TEST.tsv", help="sessions to replay")
    lat.add_argument("--requests", type=int, default=10_000, help="timed requests (default 10000)")
    lat.add_argument("--warmup", type=int, default=500, help="untimed warm-up requests (default 500)")
    lat.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    lat.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    lat.add_argument(
        "--precision",
        choices=("float32", "float16", "int16"),
        default="float32",
        help="float16 / int16 (fixed point, CPU): reduced-precision scores + exact float32 re-rank of a short "
        "list, proven to give the same top 20 as float32",
    )
    lat.add_argument("--top", type=int, default=20, help="recommendations per request (default 20)")
    lat.add_argument("--no-stateless", action="store_true", help="skip the stateless variant")
    lat.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    lat.set_defaults(func=run_latency)


def run_report(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.report import generate_report

    experiments = [Path(p) for p in args.experiments]
    top_k = args.top_k  # None: each spec's report.top_k
    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k is {top_k}, but must be >= 1")
    if args.latency_requests < 1:
        raise ConfigError(f"--latency-requests is {args.latency_requests}, but must be >= 1")
    out = Path(args.out) if args.out else Path("reports") / "_".join(p.resolve().name for p in experiments)
    result = generate_report(
        experiments,
        out,
        top_k=top_k,
        latency=not args.no_latency,
        latency_requests=args.latency_requests,
        latency_threads=args.threads,
        p99_budget_ms=args.p99_budget_ms,
        final_check=not args.no_final,
        final_seeds=args.seeds,
        tolerance=args.tolerance,
        progress=lambda msg: console.print(f"[dim]{escape(msg)}[/]", highlight=False),
    )
    console.print(
        f"[bold green]report:[/] {escape(str(result.html))}  (markdown: {escape(str(result.markdown))})",
        highlight=False,
    )
    for path in result.tuned:
        console.print(f"  tuned config: {escape(str(path))}", highlight=False)
    return 0


def run_latency(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.checkpoint import load_checkpoint
    from g4r_tune.data.loader import load_sessions
    from g4r_tune.latency import measure_latency

    if args.requests < 1 or args.warmup < 0:
        raise ConfigError("--requests must be >= 1 and --warmup >= 0")
    ckpt = load_checkpoint(args.model_path, device=args.device)
    loaded = load_sessions(args.test, ckpt.item_index)
    if loaded.data.n_events == 0:
        raise DataError(f"{args.test}: no clicks on items the model knows")
    runs = []
    for stateless in (False, True):
        if stateless and args.no_stateless:
            continue
        label = "stateless" if stateless else "stateful"
        with console.status(f"timing {args.requests} {label} requests") if console.is_terminal else _Null():
            runs.append(
                measure_latency(
                    ckpt.model,
                    loaded.data,
                    n_requests=args.requests,
                    warmup=args.warmup,
                    top_n=args.top,
                    threads=args.threads,
                    device=args.device,
                    precision=args.precision,
                    stateless=stateless,
                    item_ids=ckpt.item_index.ids,
                )
            )
    first = runs[0]
    console.print(
        f"{escape(str(args.model_path))}: {first.n_items:,} items, layers {list(ckpt.params.layers)}, "
        f"device {first.device}, {first.threads} thread(s), torch {first.torch_version}, "
        f"{first.precision}, top {first.top_n}; dropped {loaded.n_dropped_unknown} unknown-item clicks",
        highlight=False,
        soft_wrap=True,
    )
    table = Table("per request", *(s.variant for s in runs), title="top-20 latency", title_justify="left")
    for label, attr in (
        ("p50 ms", "p50_ms"),
        ("p95 ms", "p95_ms"),
        ("p99 ms", "p99_ms"),
        ("p99.9 ms", "p999_ms"),
        ("mean ms", "mean_ms"),
        ("max ms", "max_ms"),
    ):
        table.add_row(label, *(f"{getattr(s, attr):.3f}" for s in runs))
    table.add_row("requests/s", *(f"{s.requests_per_second:,.0f}" for s in runs))
    table.add_row("requests timed", *(f"{s.n_requests:,}" for s in runs))
    console.print(table)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"model": str(args.model_path), "test": str(args.test), "results": [s.to_dict() for s in runs]},
                indent=2,
            )
        )
    return 0


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
