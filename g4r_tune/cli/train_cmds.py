"""CLI: `train` (fit one configuration, evaluate, save) and `eval` (score a saved model on test files).

Modelled on the reference's run.py: `-ps` param string, `-t` test files, `-m` cutoffs, `-e` tie mode, `-s` save.
Handlers only parse, delegate and render; heavy modules are imported inside them so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from g4r_tune.config import TIE_MODES, EvalConfig, Hyperparams, RuntimeConfig
from g4r_tune.errors import ConfigError, DataError, G4RTuneError

if TYPE_CHECKING:
    import torch

    from g4r_tune.data.loader import LoadResult
    from g4r_tune.evaluate import EvalResult
    from g4r_tune.train import EpochStats, Trainer

DEFAULT_CUTOFFS = [1, 5, 10, 20]


def register(sub: argparse._SubParsersAction) -> None:
    """Add `train` and `eval` to the top-level parser."""
    train = sub.add_parser(
        "train",
        help="train one GRU4Rec configuration, print per-epoch stats and Recall@K / MRR@K",
        description="Train GRU4Rec on TRAIN.tsv with a reference-style parameter string or a tuned YAML, "
        "then evaluate on each --test file (next-item Recall@K / MRR@K over all items).",
    )
    train.add_argument("train_path", metavar="TRAIN.tsv", help="training click log (SessionId, ItemId, Time)")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-ps", "--params", metavar="STRING", help='reference parameter string, e.g. "loss=bpr-max,layers=224"'
    )
    source.add_argument("--config", metavar="TUNED.yaml", help="tuned config YAML (as written by `g4r-tune report`)")
    train.add_argument(
        "-t", "--test", nargs="+", action="extend", default=[], metavar="TEST.tsv", help="test file(s) to evaluate on"
    )
    train.add_argument("--epochs", type=int, metavar="N", help="override n_epochs of the parameters")
    train.add_argument("--eval-every-epoch", action="store_true", help="evaluate on every --test file after each epoch")
    train.add_argument("-s", "--save", metavar="PATH", help="save the trained model to this checkpoint folder")
    _add_eval_options(train)
    _add_runtime_options(train)
    train.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser(
        "eval",
        help="evaluate a saved model (checkpoint folder) on test files",
        description="Load a checkpoint saved by `g4r-tune train --save` and compute Recall@K / MRR@K on test files.",
    )
    evaluate.add_argument("model_path", metavar="MODEL", help="checkpoint folder")
    evaluate.add_argument("test", nargs="+", metavar="TEST.tsv", help="test file(s)")
    _add_eval_options(evaluate)
    _add_runtime_options(evaluate)
    evaluate.set_defaults(func=run_eval)


def _add_eval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m", "--measure", dest="cutoffs", type=int, nargs="+", default=DEFAULT_CUTOFFS, metavar="K",
        help="cutoffs K for Recall@K and MRR@K (default: 1 5 10 20)",
    )  # fmt: skip
    parser.add_argument(
        "-e", "--ties", choices=TIE_MODES, default="conservative",
        help="how tied scores rank the target (default: conservative, ties count against the model)",
    )  # fmt: skip
    parser.add_argument("--eval-batch-size", type=int, default=512, metavar="N", help="evaluation lanes (512)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch / numba")


# --- train -----------------------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.checkpoint import save_checkpoint
    from g4r_tune.data.loader import load_sessions
    from g4r_tune.errors import TrainingDiverged
    from g4r_tune.train import Trainer

    # Everything that can be wrong with the command line fails here, before any data is read.
    params, source = _read_params(args)
    if args.epochs is not None:
        params = params.replace(n_epochs=args.epochs)
    eval_config = EvalConfig(cutoffs=tuple(args.cutoffs), ties=args.ties, batch_size=args.eval_batch_size)
    runtime = RuntimeConfig(device=args.device, threads=args.threads, seed=args.seed)
    if args.eval_every_epoch and not args.test:
        raise ConfigError("--eval-every-epoch needs at least one --test file")
    _require_files([args.train_path, *args.test])

    train = load_sessions(args.train_path)
    _print_loaded(console, "train", args.train_path, train)
    tests = {path: load_sessions(path, train.data.item_index) for path in args.test}  # fail before training
    for path, loaded in tests.items():
        _print_loaded(console, "test", path, loaded)
        _require_predictions(path, loaded)
    params_line = f"[bold]params[/] ({escape(str(source))}): {params.to_param_string()}"
    console.print(params_line, highlight=False, soft_wrap=True)

    report: dict[str, Any] = {
        "command": "train",
        "status": "running",
        "train": _data_summary(args.train_path, train),
        "tests": {path: _data_summary(path, loaded) for path, loaded in tests.items()},
        "params": params.to_dict(),
        "param_string": params.to_param_string(),
        "runtime": {"device": runtime.device, "threads": runtime.threads, "seed": runtime.seed},
        "eval": {"cutoffs": list(eval_config.cutoffs), "ties": eval_config.ties},
        "epochs": [],
        "results": [],
        "saved": None,
        "error": None,
    }
    trainer = Trainer(params, train.data, runtime)
    try:
        for _ in range(params.n_epochs):
            stats = _train_epoch_with_progress(trainer, params.n_epochs, console)
            record: dict[str, Any] = {
                "epoch": stats.epoch,
                "loss": stats.loss,
                "seconds": stats.seconds,
                "events_per_second": stats.events_per_second,
            }
            line = (
                f"epoch {stats.epoch:>3}/{params.n_epochs}  loss {stats.loss:.4f}  {stats.seconds:7.1f} s  "
                f"{stats.events_per_second:>9,.0f} events/s"
            )
            if args.eval_every_epoch:
                record["eval"] = {}
                for path, loaded in tests.items():
                    result = _evaluate_loaded(trainer.model, loaded, eval_config)
                    record["eval"][path] = result.as_metrics()
                    k = max(eval_config.cutoffs)
                    line += f"  [{Path(path).name}] Recall@{k} {result.recall[k]:.4f} MRR@{k} {result.mrr[k]:.4f}"
            console.print(line, highlight=False, markup=False, soft_wrap=True)
            report["epochs"].append(record)
            _write_json(args.json, report)  # after every epoch: a crash later loses nothing finished
    except TrainingDiverged as err:
        report.update(status="diverged", error=str(err))
        _write_json(args.json, report)
        raise
    except KeyboardInterrupt:
        report.update(status="interrupted", error="interrupted by the user")
        _write_json(args.json, report)
        raise

    if args.save:
        extra = {"train": str(args.train_path), "epochs": trainer.epoch, "seed": runtime.seed}
        folder = save_checkpoint(args.save, trainer.model, params, train.data.item_index, extra=extra)
        report["saved"] = str(folder)
        console.print(f"saved model to {folder}", highlight=False, markup=False)
    for path, loaded in tests.items():
        result = _evaluate_loaded(trainer.model, loaded, eval_config)
        _print_result(console, path, result)
        report["results"].append({"test": path, **result.to_dict(), "metrics": result.as_metrics()})
    report["status"] = "finished"
    _write_json(args.json, report)
    return 0


def _read_params(args: argparse.Namespace) -> tuple[Hyperparams, str]:
    from g4r_tune.tuned import load_tuned_config

    if args.params is not None:
        try:
            return Hyperparams.from_param_string(args.params), "--params"
        except ConfigError as err:
            raise ConfigError(f"--params: {err}") from None
    params, _ = load_tuned_config(args.config)
    return params, args.config


def _train_epoch_with_progress(trainer: Trainer, n_epochs: int, console: Console) -> EpochStats:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn(f"epoch {trainer.epoch + 1}/{n_epochs}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("train", total=None)
        return trainer.train_epoch(progress=lambda done, total: bar.update(task, completed=done, total=total))


# --- eval ------------------------------------------------------------------------------------------------------


def run_eval(args: argparse.Namespace, console: Console) -> int:
    import torch

    from g4r_tune.checkpoint import load_checkpoint
    from g4r_tune.data.loader import load_sessions
    from g4r_tune.train import resolve_device

    eval_config = EvalConfig(cutoffs=tuple(args.cutoffs), ties=args.ties, batch_size=args.eval_batch_size)
    runtime = RuntimeConfig(device=args.device, threads=args.threads)
    device = resolve_device(runtime.device)
    if runtime.threads is not None:
        torch.set_num_threads(runtime.threads)
    _require_files(args.test)
    loaded = load_checkpoint(args.model_path, device=device)
    model_line = f"[bold]model[/] {escape(str(args.model_path))}: {loaded.params.to_param_string()}"
    console.print(model_line, highlight=False, soft_wrap=True)
    report: dict[str, Any] = {
        "command": "eval",
        "model": str(args.model_path),
        "params": loaded.params.to_dict(),
        "param_string": loaded.params.to_param_string(),
        "eval": {"cutoffs": list(eval_config.cutoffs), "ties": eval_config.ties},
        "results": [],
    }
    for path in args.test:
        test = load_sessions(path, loaded.item_index)
        _print_loaded(console, "test", path, test)
        result = _evaluate_loaded(loaded.model, test, eval_config)
        _print_result(console, path, result)
        report["results"].append({"test": path, **result.to_dict(), "metrics": result.as_metrics()})
        _write_json(args.json, report)
    return 0


# --- shared helpers --------------------------------------------------------------------------------------------


def _evaluate_loaded(model: torch.nn.Module, loaded: LoadResult, config: EvalConfig) -> EvalResult:
    from g4r_tune.evaluate import evaluate

    return evaluate(model, loaded.data, config, n_dropped_unknown=loaded.n_dropped_unknown)


def _require_predictions(path: str, loaded: LoadResult) -> None:
    """A test file must have something to predict; checked before training so that no training is wasted."""
    if loaded.data.n_predictions == 0:
        raise DataError(
            f"{path}: nothing to evaluate, no session has two or more events with items known to the model "
            f"({loaded.n_dropped_unknown:,} events dropped as unknown)"
        )


def _require_files(paths: list[str]) -> None:
    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"{path}: file not found")


def _data_summary(path: str, loaded: LoadResult) -> dict[str, Any]:
    data = loaded.data
    return {
        "path": str(path),
        "n_events": data.n_events,
        "n_sessions": data.n_sessions,
        "n_items": data.n_items,
        "n_dropped_unknown": loaded.n_dropped_unknown,
        "notes": list(loaded.notes),
    }


def _print_loaded(console: Console, role: str, path: str, loaded: LoadResult) -> None:
    data = loaded.data
    text = f"[bold]{role}[/] {escape(str(path))}: {data.n_events:,} events, {data.n_sessions:,} sessions"
    text += (
        f", {data.n_items:,} items"
        if role == "train"
        else f", {loaded.n_dropped_unknown:,} unknown-item events dropped"
    )
    console.print(text, highlight=False, soft_wrap=True)
    for note in loaded.notes:
        console.print(f"  [dim]{escape(note)}[/]", highlight=False, soft_wrap=True)


def _print_result(console: Console, path: str, result: EvalResult) -> None:
    from rich.table import Table

    console.print(f"[bold]results[/] {escape(str(path))}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("K", justify="right")
    table.add_column("Recall@K", justify="right")
    table.add_column("MRR@K", justify="right")
    for k in sorted(result.recall):
        table.add_row(str(k), f"{result.recall[k]:.4f}", f"{result.mrr[k]:.4f}")
    console.print(table)
    console.print(
        f"{result.n_predictions:,} predictions, {result.n_dropped_unknown:,} unknown-item events dropped, "
        f"ties: {result.ties}, {result.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


def _write_json(path: str | None, payload: dict[str, Any]) -> None:
    if not path:
        return
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        tmp.replace(out)
    except OSError as err:
        raise G4RTuneError(f"cannot write {out}: {err}") from None
