"""`generate_report`: experiment folders in, report.md / report.html / plots / trials.csv / tuned YAMLs out."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from g4r_tune.config import Hyperparams
from g4r_tune.errors import G4RTuneError, ReportError
from g4r_tune.report import analysis, measure, sections
from g4r_tune.report.facts import LATENCY_COLUMNS, Facts, FinalRow, comparison_rows, dataset_name
from g4r_tune.report.figures import write_plots
from g4r_tune.report.reader import Experiment, read_experiment
from g4r_tune.report.render import Document, to_html, to_markdown

Progress = Callable[[str], None]
FinalRunner = Callable[..., list[Any]]  # the signature of g4r_tune.retrain.run_final_check


@dataclass(frozen=True)
class ReportOptions:
    top_k: int | None = None  # None: the spec's report.top_k (default 3)
    latency: bool = True
    latency_requests: int = 10_000
    latency_threads: int = 1
    latency_max_architectures: int = 8  # extra architectures timed for the recall-vs-p99 scatter
    p99_budget_ms: float | None = None  # None: the spec's report.latency.p99_budget_ms (default 100)
    tolerance: float = 0.001  # convergence: within 0.1% of the best
    final_check: bool = True
    final_seeds: int | None = None  # None: the spec's report.final.seeds (default 3)


@dataclass
class ReportResult:
    out_dir: Path
    markdown: Path
    html: Path
    trials_csv: Path
    tuned: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        return str(self.html)


def generate_report(
    experiment_dirs: str | Path | Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    options: ReportOptions | None = None,
    final_runner: FinalRunner | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> ReportResult:
    """Write the report for one or more experiment folders into ``out_dir``; returns the written paths.

    ``overrides`` are ReportOptions fields (``top_k=5``...). ``final_runner`` defaults to
    `g4r_tune.retrain.run_final_check` (Ray tasks), called only when the spec names train_full and test.
    """
    if isinstance(experiment_dirs, str | Path):
        experiment_dirs = [experiment_dirs]
    opts = options or ReportOptions()
    if overrides:
        opts = ReportOptions(**{**opts.__dict__, **overrides})
    if opts.top_k is not None and opts.top_k < 1:
        raise ReportError(f"top_k is {opts.top_k}, but must be >= 1")
    if not experiment_dirs:
        raise ReportError("no experiment folder given")
    say = progress or (lambda _msg: None)
    out = (
        Path(out_dir)
        if out_dir is not None
        else Path("reports") / "_".join(Path(d).resolve().name for d in experiment_dirs)
    )
    experiments = [read_experiment(d) for d in experiment_dirs]  # read (and fail) before writing anything
    (out / "plots").mkdir(parents=True, exist_ok=True)
    several = len(experiments) > 1
    all_facts = []
    for exp in experiments:
        say(f"analysing {exp.name}")
        facts = _analyse(exp, opts, label=f"{exp.name}: " if several else "")
        _measure_latency(facts, opts, say)
        _write_tuned(facts, out / "tuned" / exp.name if several else out / "tuned")
        _final_check(facts, opts, final_runner, say)
        write_plots(facts, out / "plots", prefix=f"{exp.name}_" if several else "")
        all_facts.append(facts)
    title = f"g4r-tune report: {', '.join(f.exp.name for f in all_facts)}"
    doc = Document(title)
    n_losses = len({str(v) for f in all_facts for v in f.table.get("config.loss", [])})
    if several or n_losses > 1:  # several searches, or one that searched the loss itself (losses.yaml)
        doc.add(*sections.comparison(comparison_rows(all_facts)))
    for f in all_facts:
        doc.add(
            *sections.summary(f),
            *sections.top_k_table(f),
            *sections.latency_budget(f),
            *sections.convergence(f),
            *sections.early_stopping(f),
            *sections.search_insight(f, f.importance_note),
            *sections.errors(f),
            *sections.final_check(f),
        )
    md_path, html_path, csv_path = out / "report.md", out / "report.html", out / "trials.csv"
    md_path.write_text(to_markdown(doc, out), encoding="utf-8")
    html_path.write_text(to_html(doc), encoding="utf-8")
    pd.concat([f.table.assign(experiment=f.exp.name) for f in all_facts], ignore_index=True).to_csv(
        csv_path, index=False
    )
    say(f"report written to {html_path}")
    return ReportResult(
        out,
        md_path,
        html_path,
        csv_path,
        tuned=[p for f in all_facts for _, p, _ in f.tuned],
        plots=[p for f in all_facts for p in f.plots.values()],
    )


def _analyse(exp: Experiment, opts: ReportOptions, label: str) -> Facts:
    table = analysis.trials_table(exp)
    for col in LATENCY_COLUMNS:
        table[col] = math.nan
    ranked = analysis.rank_trials(table, exp.metric, exp.mode) if len(table) else table
    report_spec = exp.spec.get("report") or {}
    budget_ms = opts.p99_budget_ms or float((report_spec.get("latency") or {}).get("p99_budget_ms", 100.0))
    top_k = opts.top_k or int(report_spec.get("top_k") or 3)
    facts = Facts(
        exp=exp,
        label=label,
        table=table,
        ranked=ranked,
        budget=analysis.budget(exp, table),
        top_k=top_k,
        p99_budget_ms=budget_ms,
        tolerance=opts.tolerance,
    )
    for split in ("train", "valid"):
        path = measure.resolve_data_path(exp, split)
        if path is not None:
            try:
                facts.dataset_stats[f"{split} ({path.name})"] = measure.load_stats(path)
            except G4RTuneError as err:
                facts.notes.append(f"statistics of {path} unavailable: {err}")
    by_id = {t.trial_id: t for t in exp.trials}
    for trial_id in ranked["trial_id"].head(top_k) if len(ranked) else []:
        conv = analysis.convergence(by_id[trial_id], exp.metric, exp.mode, opts.tolerance)
        if conv is not None:
            facts.convergences.append(conv)
    grace = int(exp.search.get("grace_period") or (exp.spec.get("asha") or {}).get("grace_period") or 1)
    rf = float(exp.search.get("reduction_factor") or (exp.spec.get("asha") or {}).get("reduction_factor") or 3)
    facts.rungs = analysis.early_stopping_by_rung(table, analysis.asha_rungs(exp.max_epochs, grace, rf), exp.max_epochs)
    facts.importances, facts.importance_note, method = measure.param_importances(exp)
    facts.importance_method = method or facts.importance_method
    train_full, test = measure.resolve_data_path(exp, "train_full"), measure.resolve_data_path(exp, "test")
    if train_full is not None and test is not None:
        facts.train_command = f"g4r-tune train {train_full} --test {test}"
    return facts


def _measure_latency(f: Facts, opts: ReportOptions, say: Progress) -> None:
    """Time each top-k checkpoint, plus one checkpoint per further architecture for the scatter."""
    if not opts.latency or not len(f.ranked):
        return
    by_id = {t.trial_id: t for t in f.exp.trials}
    sessions_path = measure.resolve_data_path(f.exp, "valid")
    targets = list(f.ranked["trial_id"].head(f.top_k))
    arch_of = {r["trial_id"]: measure.architecture_key(by_id[r["trial_id"]].config) for _, r in f.ranked.iterrows()}
    seen = {arch_of[t] for t in targets}
    for trial_id in f.ranked["trial_id"]:
        if (
            arch_of[trial_id] not in seen
            and len(seen) < f.top_k + opts.latency_max_architectures
            and by_id[trial_id].checkpoint_dir() is not None
        ):
            seen.add(arch_of[trial_id])
            targets.append(trial_id)
    timed: dict[str, dict[str, Any]] = {}
    cache: dict[tuple[str, int], Any] = {}
    for i, trial_id in enumerate(targets, start=1):
        say(f"latency {i}/{len(targets)}: {trial_id}")
        try:
            result = measure.measure_checkpoint(
                by_id[trial_id],
                sessions_path,
                n_requests=opts.latency_requests,
                threads=opts.latency_threads,
                cache=cache,
            )
        except G4RTuneError as err:
            f.notes.append(f"latency of {trial_id} not measured: {err}")
            continue
        if result is None:
            f.notes.append(f"latency of {trial_id} not measured: no checkpoint in its trial folder")
            continue
        timed[trial_id] = result.stats
        f.latency_source = result.sessions
        f.latency_env = {k: result.stats[k] for k in ("device", "threads", "torch_version", "n_items", "n_requests")}
        f.latency_measured_ids.add(trial_id)
    by_arch = {arch_of[t]: s for t, s in timed.items()}
    for idx, row in f.table.iterrows():
        stats = timed.get(row["trial_id"]) or by_arch.get(arch_of.get(row["trial_id"], ""))
        if stats is not None:
            for col in LATENCY_COLUMNS:
                f.table.at[idx, col] = stats[col]
    f.ranked = analysis.rank_trials(f.table, f.metric, f.mode)


def tuned_params(f: Facts, row: pd.Series) -> Hyperparams:
    """The trial's exact config with ``n_epochs`` = the epoch of its best validation score."""
    trial = next(t for t in f.exp.trials if t.trial_id == row["trial_id"])
    config = dict(trial.config)
    if row.get("best_epoch") and not pd.isna(row["best_epoch"]):
        config["n_epochs"] = int(row["best_epoch"])
    return Hyperparams.from_mapping(config, path=f"trial {trial.trial_id} config")


def _write_tuned(f: Facts, folder: Path) -> None:
    from g4r_tune.tuned import write_tuned_config

    for rank, (_, row) in enumerate(f.ranked.head(f.top_k).iterrows(), start=1):
        try:
            params = tuned_params(f, row)
        except G4RTuneError as err:
            f.notes.append(f"no tuned YAML for {row['trial_id']}: {err}")
            continue
        metrics = {m: float(row[m]) for m in analysis.METRIC_COLUMNS if m in row and not pd.isna(row[m])}
        path = write_tuned_config(
            folder / f"{rank}.yaml",
            params,
            name=f.exp.name,
            source=str(f.exp.path),
            trial_id=str(row["trial_id"]),
            dataset=dataset_name(f.exp),
            metrics=metrics,
            epochs=int(row["epochs"]),
            notes=f"rank {rank} by validation {f.metric}; n_epochs = the epoch of its best validation score",
        )
        f.tuned.append((rank, path, params.to_param_string()))


def _final_check(f: Facts, opts: ReportOptions, runner: FinalRunner | None, say: Progress) -> None:
    train_full, test = measure.resolve_data_path(f.exp, "train_full"), measure.resolve_data_path(f.exp, "test")
    final_spec = (f.exp.spec.get("report") or {}).get("final") or {}
    n_seeds = opts.final_seeds if opts.final_seeds is not None else int(final_spec.get("seeds", 3))
    if not opts.final_check or n_seeds < 1:
        f.final_note = "Skipped (disabled)."
        return
    if train_full is None or test is None:
        f.final_note = "Skipped: the spec names no `data.train_full` and `data.test` (or the files are missing)."
        return
    top = f.ranked.head(f.top_k)
    configs = [tuned_params(f, row) for _, row in top.iterrows()]
    seed0 = int(f.exp.search.get("seed") or 0)
    seeds = [seed0 + i for i in range(n_seeds)]
    if runner is None:
        from g4r_tune.retrain import run_final_check as runner  # trainable layer: Ray tasks
    say(f"final check: retraining {len(configs)} configs x {n_seeds} seeds on {train_full.name}")
    try:
        results = runner(configs, train_full, test, seeds, progress=say)
    except G4RTuneError as err:
        f.final_note = f"Failed: {err}"
        return
    for rank, ((_, row), result) in enumerate(zip(top.iterrows(), results, strict=True), start=1):
        test_stats = {m: analysis.mean_ci95(result.values(m)) for m in ("recall@20", "mrr@20") if result.values(m)}
        secs = [r.train_seconds for r in result.runs]
        f.final_rows.append(
            FinalRow(
                rank,
                str(row["trial_id"]),
                result.params.n_epochs,
                float(row[f.metric]),
                test_stats,
                len(result.runs),
                sum(secs) / len(secs) if secs else None,
                list(result.errors),
            )
        )
    f.final_note = (
        f"Top {len(configs)} configs retrained on `{train_full.name}` for their best epoch count with "
        f"seeds {seeds}, evaluated on `{test.name}` (search: train on train_tr, score on valid)."
    )
