"""The report's sections as document blocks, in the users' terms (Recall@20, MRR@20, s/epoch, p99 ms)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from g4r_tune.report.analysis import CUTOFFS, latency_choice
from g4r_tune.report.facts import Facts
from g4r_tune.report.render import Code, Heading, Image, Para, Table, fmt


def _h(f: Facts, text: str) -> Heading:
    return Heading(f"{f.label}{text}", 2)


def _config_text(row: pd.Series, params: Sequence[str], f: Facts | None = None) -> str:
    """``name=value`` of the searched parameters that applied to this trial (conditional ones only if active)."""
    config = {p: row.get(f"config.{p}") for p in params}
    parts = [
        f"{p}={fmt(row.get(f'config.{p}'))}"
        for p in params
        if f"config.{p}" in row.index and (f is None or f.exp.param_active(p, config))
    ]
    return ", ".join(parts) if parts else str(row["trial_id"])


def _shown_params(f: Facts) -> list[str]:
    names = f.exp.searched_params()
    return names if names else ["loss", "layers", "batch_size", "learning_rate"]


def summary(f: Facts) -> list[Any]:
    b, exp = f.budget, f.exp
    blocks: list[Any] = [_h(f, "Summary")]
    best = f.ranked.iloc[0] if len(f.ranked) else None
    if best is not None:
        blocks.append(
            Para(
                f"**Best {f.metric_label} = {fmt(best[f.metric])}** (trial `{best['trial_id']}`, "
                f"epoch {fmt(best['best_epoch'])}, {_config_text(best, _shown_params(f), f)})."
            )
        )
        blocks.append(Para(recommendation(f)))
    else:
        blocks.append(Para("No trial produced a validation score yet."))
    wall = f"{b.wall_seconds:,.0f} s wall time" if b.wall_seconds is not None else "wall time not recorded"
    saved = f"{b.epochs_saved_fraction:.0%}"
    blocks.append(
        Para(
            f"Budget: {b.n_trials} trials ({b.n_completed} finished, {b.n_stopped_early} stopped early by ASHA, "
            f"{b.n_errored} errored); **{b.epochs_run} epochs trained vs {b.epochs_full} for the full grid without "
            f"early stopping ({b.n_trials} trials x {exp.max_epochs} epochs) — {saved} saved**; {wall}, "
            f"{b.train_seconds:,.0f} s of training in trials."
        )
    )
    seed, conc = exp.search.get("seed"), exp.search.get("max_concurrent")
    replay = bool(exp.search.get("replay")) or conc == 1
    blocks.append(
        Para(
            f"Reproducibility: TPE seed {fmt(seed)}, {fmt(conc)} concurrent trial(s), status "
            f"{exp.search.get('status', 'unknown')}. "
            + (
                "Concurrency 1: rerunning the spec reproduces this search exactly."
                if replay
                else "With concurrent trials ASHA decisions depend on arrival order; rerun with `--replay` "
                "(concurrency 1) for an exactly reproducible search."
            )
        )
    )
    if f.dataset_stats:
        keys = list(next(iter(f.dataset_stats.values())))
        rows = [[k, *(f.dataset_stats[s].get(k) for s in f.dataset_stats)] for k in keys]
        blocks.append(Table(["dataset (T6.1)", *f.dataset_stats], rows, "statistics of the search's data files"))
    for note in [*exp.notes, *f.notes]:
        blocks.append(Para(f"Note: {note}"))
    return blocks


def recommendation(f: Facts) -> str:
    """One paragraph answering "which config, how many epochs, is it ready to serve?"."""
    best, within = latency_choice(f.table, f.metric, f.mode, f.p99_budget_ms)
    choice = within if within is not None else f.ranked.iloc[0]
    rank = int(f.ranked.index[f.ranked["trial_id"] == choice["trial_id"]][0]) + 1
    tuned = next((path for r, path, _ in f.tuned if r == rank), None)
    where = f" (`{'/'.join(tuned.parts[tuned.parts.index('tuned') :])}`)" if tuned and "tuned" in tuned.parts else ""
    parts = [f"**Recommendation:** trial `{choice['trial_id']}`{where}"]
    conv = next((c for c in f.convergences if c.trial_id == choice["trial_id"]), None)
    if conv is not None:
        parts.append(
            f"trained for {conv.first_epoch} epoch(s) (its {f.metric_label} is within {f.tolerance:.1%} of its best "
            f"there; {conv.epochs_run} were run)"
        )
    if not pd.isna(choice.get("p99_ms", math.nan)):
        ok = float(choice["p99_ms"]) <= f.p99_budget_ms
        parts.append(
            f"p99 {fmt(choice['p99_ms'], 3)} ms per request, {'within' if ok else 'over'} the "
            f"{f.p99_budget_ms:g} ms budget"
        )
    if best is not None and within is not None and best["trial_id"] != within["trial_id"]:
        parts.append(f"chosen over the most accurate `{best['trial_id']}`, which is over the latency budget")
    final = next((r for r in f.final_rows if r.trial_id == choice["trial_id"] and "recall@20" in r.test), None)
    if final is not None:
        mean, half = final.test["recall@20"]
        parts.append(f"held-out test Recall@20 {_ci((mean, half))} over {final.n_seeds} seed(s)")
    return "; ".join(parts) + "."


def top_k_table(f: Facts) -> list[Any]:
    top = f.ranked.head(f.top_k)
    params = _shown_params(f)
    metrics = [f"{m}@{k}" for m in ("recall", "mrr") for k in CUTOFFS]
    cols = [
        "rank",
        "trial",
        *params,
        *[m.replace("recall", "Recall").replace("mrr", "MRR") for m in metrics],
        "best epoch",
        "s/epoch",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p99.9 ms",
    ]
    rows = []
    for i, (_, r) in enumerate(top.iterrows(), start=1):
        config = {p: r.get(f"config.{p}") for p in params}
        rows.append(
            [
                i,
                r["trial_id"],
                *(r.get(f"config.{p}") if f.exp.param_active(p, config) else None for p in params),
                *(r.get(m) for m in metrics),
                r["best_epoch"],
                r["seconds_per_epoch"],
                *(r.get(c) for c in ("p50_ms", "p95_ms", "p99_ms", "p999_ms")),
            ]
        )
    blocks: list[Any] = [
        _h(f, f"Top {len(top)} configurations"),
        Table(
            cols,
            rows,
            f"ranked by best validation {f.metric_label}; metrics at that epoch; latency of the trial's "
            "checkpoint per request (1 click, top 20)",
        ),
    ]
    for rank, path, param_string in f.tuned:
        blocks.append(
            Para(f"Rank {rank}: `{f.train_command} --config {path.as_posix()}` — reference parameter string:")
        )
        blocks.append(Code(param_string))
    return blocks


def latency_budget(f: Facts) -> list[Any]:
    blocks: list[Any] = [_h(f, "Latency budget")]
    if "p99_ms" not in f.table or f.table["p99_ms"].notna().sum() == 0:
        return [*blocks, Para("No checkpoint latency was measured (no checkpoints found, or --no-latency).")]
    env = f.latency_env
    blocks.append(
        Para(
            "A request = one click of a live session: one GRU step from the session's carried hidden state, "
            f"scores for all {fmt(env.get('n_items'))} items, top 20 ids. "
            f"{fmt(env.get('n_requests'))} timed requests per checkpoint replaying {f.latency_source}; "
            f"device {env.get('device')}, {env.get('threads')} thread(s), "
            f"torch {env.get('torch_version')}. p99 budget: **{f.p99_budget_ms:g} ms**."
        )
    )
    best, within = latency_choice(f.table, f.metric, f.mode, f.p99_budget_ms)
    if best is not None and within is not None and best["trial_id"] == within["trial_id"]:
        blocks.append(
            Para(
                f"**Serve the best configuration** (`{best['trial_id']}`, {f.metric_label} {fmt(best[f.metric])}): p99 "
                f"{fmt(best['p99_ms'], 3)} ms is within the {f.p99_budget_ms:g} ms budget."
            )
        )
    elif best is not None and within is not None:
        blocks.append(
            Para(
                f"The best configuration (`{best['trial_id']}`, {f.metric_label} {fmt(best[f.metric])}) has p99 "
                f"{fmt(best['p99_ms'], 3)} ms, **over the {f.p99_budget_ms:g} ms budget**. Recommended smaller "
                f"alternative: `{within['trial_id']}` ({_config_text(within, _shown_params(f), f)}), {f.metric_label} "
                f"{fmt(within[f.metric])} ({_rel(within[f.metric], best[f.metric])}), "
                f"p99 {fmt(within['p99_ms'], 3)} ms."
            )
        )
    elif best is not None:
        blocks.append(
            Para(
                f"No measured configuration meets the {f.p99_budget_ms:g} ms p99 budget; the fastest "
                f"has p99 {fmt(f.table['p99_ms'].min(), 3)} ms. Consider fewer layers or items."
            )
        )
    if best is not None:
        near = f.table[f.table["p99_ms"].notna() & (f.table["status"] != "ERROR")]
        near = near[near[f.metric] >= float(best[f.metric]) * 0.99].sort_values("p99_ms", kind="stable")
        if len(near) and near.iloc[0]["trial_id"] != best["trial_id"]:
            cheap = near.iloc[0]
            blocks.append(
                Para(
                    f"Smaller fallback within 1% of the best {f.metric_label}: `{cheap['trial_id']}` "
                    f"({_config_text(cheap, _shown_params(f), f)}), {f.metric_label} {fmt(cheap[f.metric])}, "
                    f"p99 {fmt(cheap['p99_ms'], 3)} ms vs {fmt(best['p99_ms'], 3)} ms."
                )
            )
    if "latency" in f.plots:
        blocks.append(Image(f.plots["latency"], "Recall vs p99 latency with the Pareto front"))
        blocks.append(
            Para(
                "Trials sharing an architecture (layers, embedding) share the latency of the one "
                "checkpoint timed for it: latency depends on the architecture and item count, not on "
                "the trained weights."
            )
        )
    return blocks


def convergence(f: Facts) -> list[Any]:
    blocks: list[Any] = [_h(f, "Convergence and early stopping of the top trials")]
    if not f.convergences:
        return [*blocks, Para("No per-epoch history to analyse.")]
    if "convergence" in f.plots:
        blocks.append(Image(f.plots["convergence"], f"per-epoch {f.metric_label} and loss of the top trials"))
    tol = f"{f.tolerance:.1%}"
    rows = [
        [
            c.trial_id,
            c.epochs_run,
            c.best_epoch,
            c.best_value,
            c.first_epoch,
            c.value_at_first,
            f"{c.relative_loss:.2%}",
            c.seconds_total,
            c.seconds_saved,
            f"{c.fraction_saved:.0%}",
        ]
        for c in f.convergences
    ]
    blocks.append(
        Table(
            [
                "trial",
                "epochs run",
                "best epoch",
                f"best {f.metric_label}",
                f"first epoch within {tol}",
                f"{f.metric_label} there",
                "accuracy given up",
                "train s",
                "s saved by stopping there",
                "time saved",
            ],
            rows,
            f"convergence = first epoch whose {f.metric_label} is within {tol} of the trial's best",
        )
    )
    c = f.convergences[0]
    blocks.append(
        Para(
            f"For the best trial, stopping at epoch {c.first_epoch} instead of {c.epochs_run} saves "
            f"{c.seconds_saved:,.1f} s ({c.fraction_saved:.0%} of its training time) for {c.relative_loss:.2%} lower "
            f"{f.metric_label}. Retrain with `n_epochs: {c.first_epoch}` in the tuned YAML to take that saving."
        )
    )
    return blocks


def early_stopping(f: Facts) -> list[Any]:
    blocks: list[Any] = [_h(f, "Early stopping (ASHA)")]
    s = f.exp.search
    stopped = f.table[f.table["stopped_early"].astype(bool)] if len(f.table) else f.table
    blocks.append(
        Para(
            f"ASHA with grace period {fmt(s.get('grace_period'))}, reduction factor {fmt(s.get('reduction_factor'))}, "
            f"max {f.exp.max_epochs} epochs: {len(stopped)} of {len(f.table)} trials stopped early, saving "
            f"{int((f.exp.max_epochs - stopped['epochs']).sum()) if len(stopped) else 0} epochs."
        )
    )
    if f.rungs is not None and len(f.rungs):
        blocks.append(Table(list(f.rungs.columns), f.rungs.values.tolist(), "trials stopped at each rung"))
    if len(stopped):
        rows = [
            [r["trial_id"], r["epochs"], r.get(f.metric), _config_text(r, _shown_params(f), f)]
            for _, r in stopped.iterrows()
        ]
        blocks.append(Table(["trial", "stopped after epoch", f"best {f.metric_label}", "config"], rows))
    return blocks


def search_insight(f: Facts, importance_note: str | None) -> list[Any]:
    blocks: list[Any] = [_h(f, "Search insight")]
    if "best_so_far" in f.plots:
        blocks.append(Image(f.plots["best_so_far"], "best validation metric so far vs trial index"))
    if f.importances:
        rows = [[k, v] for k, v in sorted(f.importances.items(), key=lambda kv: -kv[1])]
        blocks.append(
            Table(
                ["parameter", "importance"],
                rows,
                f"Optuna parameter importances ({f.importance_method}) on the persisted study (completed trials)",
            )
        )
        if "importance" in f.plots:
            blocks.append(Image(f.plots["importance"], "parameter importances"))
    elif importance_note:
        blocks.append(Para(f"Parameter importances: {importance_note}."))
    if "params" in f.plots:
        blocks.append(Image(f.plots["params"], f"best {f.metric_label} vs each searched parameter"))
    return blocks


def errors(f: Facts) -> list[Any]:
    bad = f.table[f.table["status"] == "ERROR"] if len(f.table) else f.table
    blocks: list[Any] = [_h(f, "Trials that errored")]
    if not len(bad):
        return [*blocks, Para("None.")]
    rows = [
        [r["trial_id"], r["epochs"], _config_text(r, _shown_params(f), f), r.get("error") or "(no reason recorded)"]
        for _, r in bad.iterrows()
    ]
    return [*blocks, Table(["trial", "epochs done", "config", "reason"], rows)]


def final_check(f: Facts) -> list[Any]:
    blocks: list[Any] = [_h(f, "Final check on held-out data")]
    if not f.final_rows:
        return [*blocks, Para(f.final_note or "Not run.")]
    blocks.append(Para(f.final_note))
    rows = []
    for r in f.final_rows:
        rec, mrr = r.test.get("recall@20"), r.test.get("mrr@20")
        rows.append(
            [
                r.rank,
                r.trial_id,
                r.epochs,
                r.valid_value,
                _ci(rec),
                _ci(mrr),
                r.n_seeds,
                _gap(rec, r.valid_value) if f.metric == "recall@20" else "–",
                r.seconds,
                "; ".join(r.errors) or "–",
            ]
        )
    blocks.append(
        Table(
            [
                "rank",
                "trial",
                "epochs",
                f"validation {f.metric_label}",
                "test Recall@20 (95% CI)",
                "test MRR@20 (95% CI)",
                "seeds",
                "test - validation",
                "train s (mean)",
                "errors",
            ],
            rows,
            "retrained on train_full, evaluated on test; mean ± 95% Student-t interval over seeds",
        )
    )
    ok = [r for r in f.final_rows if "recall@20" in r.test]
    if len(ok) >= 2:
        (m1, c1), (m2, c2) = ok[0].test["recall@20"], ok[1].test["recall@20"]
        real = (m1 - c1) > (m2 + c2)
        blocks.append(
            Para(
                f"Rank 1's test Recall@20 lead over rank 2: {m1 - m2:+.4f} — "
                + (
                    "the intervals do not overlap: the lead is real."
                    if real
                    else "the intervals overlap: the lead is not established by these seeds."
                )
            )
        )
    return blocks


def comparison(rows: list[dict[str, Any]]) -> list[Any]:
    cols = ["dataset", "loss", "experiment", "best Recall@20", "best MRR@20", "s/epoch", "p99 ms", "trials", "status"]
    return [
        Heading("Comparison: dataset x loss", 2),
        Para("Best trial per dataset and loss across the experiments in this report (validation scores)."),
        Table(cols, [[r.get(c) for c in cols] for r in rows]),
    ]


def _ci(value: tuple[float, float] | None) -> str:
    if value is None or math.isnan(value[0]):
        return "–"
    if math.isnan(value[1]):  # a single seed has no interval (the seeds column says 1)
        return f"{value[0]:.4f}"
    return f"{value[0]:.4f} ± {value[1]:.4f}"


def _gap(test: tuple[float, float] | None, valid: float) -> str:
    return "–" if test is None else f"{test[0] - valid:+.4f}"


def _rel(value: float, ref: float) -> str:
    return f"{(value - ref) / ref:+.1%} vs best" if ref else ""
