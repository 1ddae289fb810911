"""CLI: `g4r-tune search SPEC.yaml` (also `g4r-tune SPEC.yaml`): validate, run the search with a live view, report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the top-level parser."""
    p = sub.add_parser(
        "search",
        help="run a hyperparameter search from a spec file (then its report)",
        description="Run an Optuna TPE + ASHA search on Ray Tune from SPEC.yaml, then write its report.",
    )
    p.add_argument("spec", help="search spec YAML (see search_spaces/)")
    p.add_argument("--address", help='Ray cluster to connect to ("auto", "host:6379", "ray://host:10001")')
    p.add_argument("--num-samples", type=int, help="number of trials (overrides search.num_samples)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted experiment (same name/storage)")
    p.add_argument("--dry-run", action="store_true", help="validate, print the resolved space and budget, run nothing")
    p.add_argument("--replay", action="store_true", help="one trial at a time: reproducible given the seed")
    p.add_argument("--storage", help="experiment root folder, shared by all nodes on a cluster (overrides storage)")
    p.add_argument("--no-report", action="store_true", help="skip the report after the search")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="tracebacks, more detail")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.spec import load_spec

    spec = load_spec(args.spec).with_overrides(num_samples=args.num_samples, address=args.address, storage=args.storage)
    if args.dry_run:
        _print_plan(spec, console, replay=args.replay)
        return 0
    from g4r_tune.search import run_search

    view = _LiveView(console, keys=spec.param_names)
    with Live(view.render(None), console=console, refresh_per_second=4, transient=False) as live:
        view.live = live
        outcome = run_search(spec, resume=args.resume, replay=args.replay, progress=view.update)
        live.update(view.render(view.last, done=True))
    console.print(
        f"[bold green]search finished[/]: {outcome.n_trials} trials, best {outcome.metric} = "
        f"{_fmt(outcome.best_value)} ({outcome.best_trial_id}); epochs {outcome.epochs_used}/{outcome.epoch_budget}; "
        f"{outcome.wall_seconds:.0f} s. Results: {outcome.experiment_dir}",
        highlight=False,
    )
    if not outcome.complete:
        console.print("[yellow]the search was interrupted[/]: rerun the same command with --resume to continue it")
        return 1
    if args.no_report:
        return 0
    return _report(outcome.experiment_dir, console, verbose=getattr(args, "verbose", False))


def _report(experiment_dir: Path, console: Console, verbose: bool) -> int:
    """Run the report generator when it is available; a failing report never loses the search results."""
    try:
        from g4r_tune.report import generate_report
    except ImportError:
        console.print("[dim]report generator not available in this build; results are kept as they are[/]")
        return 0
    try:
        with console.status("writing the report ...") as status:
            out = generate_report(experiment_dir, progress=lambda msg: status.update(f"report: {msg}"))
    except Exception as err:  # the search is done and saved: say so, and point at the retry
        if verbose:
            console.print_exception(show_locals=False)
        console.print(
            f"[bold red]report failed:[/] {type(err).__name__}: {err}\n"
            f"the search results are safe in {experiment_dir}; retry with `g4r-tune report {experiment_dir}`",
            highlight=False,
        )
        return 1
    console.print(f"report: {out}", highlight=False)
    return 0


def _print_plan(spec: Any, console: Console, replay: bool) -> None:
    from g4r_tune.space import asha_rungs, describe_space

    table = Table(title=f"search space of {spec.name!r}", show_lines=False)
    table.add_column("hyperparameter")
    table.add_column("values")
    for name, text in describe_space(spec):
        table.add_row(name, text)
    console.print(table)
    data = spec.data
    source = f"synthetic {data.synthetic}" if data.synthetic else f"train {data.train}, valid {data.valid}"
    rungs = asha_rungs(spec.asha.max_epochs, spec.asha.grace_period, spec.asha.reduction_factor)
    concurrency = 1 if replay else spec.search.max_concurrent
    lines = [
        f"data: {source}",
        f"metric: {spec.metric} (max) on valid after every epoch",
        f"trials: {spec.search.num_samples}, {concurrency} at a time, TPE seed {spec.search.seed}"
        + (f", {len(spec.search.warm_start)} warm start(s) first" if spec.search.warm_start else ""),
        f"budget: at most {spec.epoch_budget} epochs ({spec.search.num_samples} x {spec.asha.max_epochs}); "
        f"ASHA compares at epochs {rungs} and keeps 1/{spec.asha.reduction_factor} at each",
        f"resources per trial: {spec.resources.cpus_per_trial} CPU, {spec.resources.gpus_per_trial} GPU",
        f"ray: {spec.ray.address or 'local (started for this search)'}",
        f"experiment folder: {spec.experiment_dir()}",
    ]
    for i, point in enumerate(spec.search.warm_start):
        lines.append(f"warm start {i}: {dict(point)}")
    console.print("\n".join(lines), highlight=False)
    console.print("[dim]dry run: nothing was started[/]")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class _LiveView:
    """Renders ``SearchProgress`` snapshots; Ray calls ``update`` from the driver thread."""

    def __init__(self, console: Console, keys: list[str]) -> None:
        self.console, self.keys = console, keys
        self.live: Live | None = None
        self.last: Any = None
        self.started = time.time()

    def update(self, snap: Any) -> None:
        self.last = snap
        if self.live is not None:
            self.live.update(self.render(snap))

    def render(self, snap: Any, done: bool = False) -> Group:
        if snap is None:
            return Group(Text("starting Ray and loading data ...", style="dim"))
        table = Table.grid(padding=(0, 2))
        table.add_row("trials", f"{snap.running} running, {snap.finished} finished "
                      f"({snap.stopped_early} stopped by ASHA), {snap.errored} errored, of {snap.total}")  # fmt: skip
        share = snap.epochs_used / snap.epoch_budget if snap.epoch_budget else 0.0
        table.add_row("epochs", f"{snap.epochs_used} of a full budget of {snap.epoch_budget} ({share:.0%})")
        table.add_row(f"best {snap.metric}", f"{_fmt(snap.best_value)}  {snap.best_trial_id or ''}")
        if snap.best_config:
            table.add_row("best config", _short_config({k: snap.best_config.get(k) for k in self.keys}))
        table.add_row("elapsed", f"{time.time() - self.started:.0f} s")
        if snap.event and not done:
            table.add_row("last", Text(snap.event, style="dim"))
        return Group(table)


def _short_config(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_round(v)}" for k, v in config.items())


def _round(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value
