"""CLI: `g4r-tune data {prepare,stats,subset,synth}` - parse, delegate to g4r_tune.data, show tables/progress."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from g4r_tune.errors import ConfigError, DataError, must_be

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def register(sub: argparse._SubParsersAction) -> None:
    """Add `data` and its subcommands to the top-level parser."""
    data = sub.add_parser("data", help="prepare, inspect, subset or synthesise session click data")
    data.set_defaults(func=lambda args, console: data.print_help() or 2)
    data_sub = data.add_subparsers(dest="data_command", metavar="COMMAND")

    p = data_sub.add_parser(
        "prepare",
        help="raw RetailRocket / Yoochoose log -> GRU4Rec train/test/validation TSVs + JSON summary",
        description="Apply the GRU4Rec authors' protocol to a raw log and write <name>_train_full.tsv, _test.tsv, "
        "_train_tr.tsv, _train_valid.tsv and <name>_summary.json into OUTDIR.",
    )
    p.add_argument("dataset", choices=("retailrocket", "yoochoose"), help="raw file format / protocol")
    p.add_argument("raw", type=Path, help="events.csv (RetailRocket) or yoochoose-clicks.dat (Yoochoose)")
    p.add_argument("outdir", type=Path, help="output folder (created if missing)")
    p.add_argument("--name", help="file name prefix (default: the dataset name)")
    p.add_argument("--session-gap", default="1h", help="RetailRocket session gap, e.g. 3600, 30m, 1h (default 1h)")
    p.add_argument("--test-days", type=float, help="test = sessions starting in the last D days (RR 7, YC 1)")
    p.add_argument("--valid-days", type=float, help="the same inside train_full for validation (default: as test)")
    p.add_argument("--min-item-support", type=int, default=5, help="drop items with fewer events (default 5)")
    p.add_argument("--no-dedup", action="store_true", help="keep consecutive repeats of the same item")
    p.set_defaults(func=_prepare)

    s = data_sub.add_parser(
        "stats",
        help="dataset statistics of one or more session files, side by side",
        description="Events, sessions, items, session lengths, popularity skew and time span per file; for every "
        "file after the first, the items (and share of events) the first file lacks.",
    )
    s.add_argument("files", nargs="+", type=Path, help="GRU4Rec TSV / CSV / Parquet files")
    s.add_argument("--json", type=Path, dest="json_out", help="also write the statistics as JSON")
    s.add_argument("--plot", type=Path, help="draw item-popularity and session-length distributions (PNG)")
    _add_column_options(s)
    s.set_defaults(func=_stats)

    b = data_sub.add_parser(
        "subset",
        help="keep a fraction of whole sessions (most recent or random)",
        description="Write the most recent (like the classic Yoochoose 1/4 and 1/64 subsets) or a random "
        "fraction of the sessions of FILE to OUT (GRU4Rec TSV).",
    )
    b.add_argument("file", type=Path)
    b.add_argument("out", type=Path)
    b.add_argument("--fraction", type=float, required=True, help="share of sessions to keep, in (0, 1]")
    b.add_argument("--mode", choices=("recent", "random"), default="recent")
    b.add_argument("--seed", type=int, default=42, help="seed of --mode random (default 42)")
    _add_column_options(b)
    b.set_defaults(func=_subset)

    y = data_sub.add_parser(
        "synth",
        help="generate a synthetic click log with learnable sequential structure",
        description="Write <name>_train_full.tsv, _test.tsv, _train_tr.tsv, _train_valid.tsv and a summary into "
        "OUTDIR; the last day is the test set. Deterministic for a seed; the defaults train in seconds.",
    )
    y.add_argument("outdir", type=Path)
    y.add_argument("--items", type=int, default=2000, help="number of items (default 2000)")
    y.add_argument("--sessions", type=int, default=8000, help="number of sessions (default 8000)")
    y.add_argument("--days", type=float, default=7.0, help="days covered, >= 3 (default 7)")
    y.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    y.add_argument("--name", default="synth", help="file name prefix (default synth)")
    y.set_defaults(func=_synth)


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("auto", "tsv", "csv", "parquet"), default="auto", dest="fmt")
    parser.add_argument("--session-col", default="SessionId", help="session id column (default SessionId)")
    parser.add_argument("--item-col", default="ItemId", help="item id column (default ItemId)")
    parser.add_argument("--time-col", default="Time", help="time column, seconds (default Time)")


def _columns(args: argparse.Namespace):
    from g4r_tune.data.loader import ColumnNames

    return ColumnNames(session=args.session_col, item=args.item_col, time=args.time_col)


def parse_duration(text: str, name: str = "session_gap") -> float:
    """Seconds from ``3600``, ``90s``, ``30m``, ``1.5h`` or ``1d``."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(must_be(name, text, "a positive duration such as 3600, 30m, 1h"))
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class _RichProgress:
    """Adapts the library's ``progress(stage, done, total)`` callback to one rich progress line."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=None)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.progress.update(self.task, description=stage, completed=done, total=total)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _splits_table(title: str, summary: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("file", no_wrap=True)
    for column in ("events", "sessions", "items", "from (UTC)", "to (UTC)"):
        table.add_column(column, justify="right")
    for split, c in summary["splits"].items():
        dates = (c.get("start_utc", ""), c.get("end_utc", ""))
        table.add_row(c.get("file", split), f"{c['events']:,}", f"{c['sessions']:,}", f"{c['items']:,}", *dates)
    return table


def _print_restrictions(console: Console, summary: dict[str, Any]) -> None:
    for held_out, train in (("test", "train_full"), ("train_valid", "train_tr")):
        r = summary[f"{held_out}_restriction"]
        console.print(
            f"{held_out}: removed {r['removed_unseen_item_events']:,} events with items unseen in {train}, "
            f"{r['removed_repeat_events']:,} repeats, and {r['dropped_short_sessions']:,} sessions left shorter "
            f"than 2 ({r['dropped_short_session_events']:,} events)"
        )


def _prepare(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.data.prepare import PrepareConfig, prepare

    config = PrepareConfig(
        dataset=args.dataset,
        test_days=args.test_days,
        valid_days=args.valid_days,
        min_item_support=args.min_item_support,
        session_gap=parse_duration(args.session_gap),
        dedup=not args.no_dedup,
    )
    with _progress(console) as progress:
        paths, summary = prepare(args.raw, args.outdir, config, name=args.name, progress=_RichProgress(progress))
    raw = summary["raw"]
    console.print(f"read {raw['rows']:,} rows; {summary['filtered']['events']:,} events after filtering")
    console.print(f"test split {summary['test_split_utc']} UTC, validation split {summary['valid_split_utc']} UTC")
    console.print(_splits_table(f"{args.dataset} -> {args.outdir}", summary))
    _print_restrictions(console, summary)
    console.print(f"summary: {paths.summary}")
    return 0


def _synth(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits

    config = SynthConfig(n_items=args.items, n_sessions=args.sessions, days=args.days, seed=args.seed)
    with _progress(console) as progress:
        paths = write_synthetic_splits(args.outdir, config, name=args.name, progress=_RichProgress(progress))
    summary = json.loads(paths.summary.read_text())
    console.print(_splits_table(f"synthetic data (seed {args.seed}) -> {args.outdir}", summary))
    console.print(f"summary: {paths.summary}")
    return 0


def _subset(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.data.subset import SubsetConfig, write_subset

    config = SubsetConfig(fraction=args.fraction, mode=args.mode, seed=args.seed)
    sessions, events, kept_sessions, kept_events = write_subset(
        args.file, args.out, config, columns=_columns(args), fmt=args.fmt
    )
    console.print(
        f"kept {kept_sessions:,} of {sessions:,} sessions ({kept_events:,} of {events:,} events, {args.mode}) "
        f"-> {args.out}"
    )
    return 0


_STAT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("events", "events", "{:,}"),
    ("sessions", "sessions", "{:,}"),
    ("items", "items", "{:,}"),
    ("next-item predictions", "next_item_predictions", "{:,}"),
    ("session length mean", "session_length_mean", "{:.2f}"),
    ("session length median", "session_length_median", "{:g}"),
    ("session length max", "session_length_max", "{:,}"),
    ("events on top 1% items", "top1pct_items_event_share", "{:.1%}"),
    ("events on top 10% items", "top10pct_items_event_share", "{:.1%}"),
    ("item popularity Gini", "item_gini", "{:.3f}"),
    ("most frequent item: events", "max_item_support", "{:,}"),
    ("least frequent item: events", "min_item_support", "{:,}"),
    ("power-law exponent", "power_law_exponent", "{:.2f}"),
    ("first event (UTC)", "start_utc", "{}"),
    ("last event (UTC)", "end_utc", "{}"),
    ("span (days)", "span_days", "{:.2f}"),
)


def _stats(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.data.loader import read_events
    from g4r_tune.data.stats import dataset_stats, item_counts, item_overlap, session_lengths

    columns = _columns(args)
    frames = [read_events(path, columns=columns, fmt=args.fmt) for path in args.files]
    names = _short_names(args.files)
    stats = [dataset_stats(frame, name) for frame, name in zip(frames, names, strict=True)]
    overlaps = [item_overlap(frames[0], f, (names[0], n)) for f, n in zip(frames[1:], names[1:], strict=True)]

    table = Table(title="dataset statistics")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for label, key, fmt in _STAT_ROWS:
        table.add_row(label, *(fmt.format(getattr(s, key)) for s in stats))
    if overlaps:
        table.add_row(
            "items not in the 1st file", "", *(f"{o.new_items:,} ({o.new_items_share:.1%})" for o in overlaps)
        )
        table.add_row("events on those items", "", *(f"{o.new_item_events_share:.1%}" for o in overlaps))
    console.print(table)

    if args.json_out:
        payload = {
            "files": [{"path": str(p), **s.to_dict()} for p, s in zip(args.files, stats, strict=True)],
            "item_overlap": [o.to_dict() for o in overlaps],
        }
        _write(args.json_out, lambda path: path.write_text(json.dumps(payload, indent=2) + "\n"))
        console.print(f"statistics: {args.json_out}")
    if args.plot:
        from g4r_tune.report.data_plots import plot_data_distributions

        fig = plot_data_distributions(
            {n: (item_counts(f), session_lengths(f)) for n, f in zip(names, frames, strict=True)}
        )
        _write(args.plot, lambda path: fig.savefig(path, dpi=120))
        console.print(f"plot: {args.plot}")
    return 0


def _short_names(paths: list[Path]) -> list[str]:
    """File names, with parent folders added only where names collide."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def _write(path: Path, writer) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
    except OSError as err:
        raise DataError(f"{path}: cannot write: {err.strerror or err}") from None
