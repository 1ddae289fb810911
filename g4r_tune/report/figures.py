"""Turns one experiment's facts into the report's PNGs (the plot functions themselves are in `plots`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from g4r_tune.report import analysis, plots
from g4r_tune.report.facts import Facts


def write_plots(f: Facts, folder: Path, prefix: str) -> None:
    """Save every figure the facts support into ``folder``; records their paths in ``f.plots``."""

    def save(name: str, fig: Any) -> None:
        path = folder / f"{prefix}{name}.png"
        fig.savefig(path, dpi=110)
        plots.close(fig)
        f.plots[name] = path

    by_id = {t.trial_id: t for t in f.exp.trials}
    curves = []
    for conv in f.convergences:
        hist = by_id[conv.trial_id].history
        curves.append(
            (
                conv.trial_id,
                [int(r.get("epoch", r.get("training_iteration", 0))) for r in hist],
                [r.get(f.metric) for r in hist],
                [r.get("loss") for r in hist],
                conv.first_epoch,
            )
        )
    if curves:
        save("convergence", plots.convergence_figure(curves, f.metric_label))
    measured = f.ranked[f.ranked["p99_ms"].notna()] if "p99_ms" in f.ranked else f.ranked.iloc[0:0]
    if len(measured):
        front = analysis.pareto_front(measured["p99_ms"].tolist(), measured[f.metric].tolist(), f.mode)
        save(
            "latency",
            plots.latency_scatter(
                measured["p99_ms"].tolist(),
                measured[f.metric].tolist(),
                [str(t)[-5:] for t in measured["trial_id"]],
                front,
                f.p99_budget_ms,
                f.metric_label,
            ),
        )
    if len(f.table):
        values = [None if pd.isna(v) else float(v) for v in f.table[f.metric]]
        save("best_so_far", plots.best_so_far_figure(values, analysis.best_so_far(values, f.mode), f.metric_label))
    if f.importances:
        save("importance", plots.importance_figure(f.importances))
    params = [p for p in f.exp.searched_params() if f"config.{p}" in f.table]
    if params and len(f.table):
        configs = {t.trial_id: t.config for t in f.exp.trials}
        cols = {
            p: [
                None if _missing(v) or not f.exp.param_active(p, configs.get(tid, {})) else v
                for tid, v in zip(f.table["trial_id"], f.table[f"config.{p}"], strict=True)
            ]
            for p in params
        }  # a conditional parameter (when:) is shown only for the trials it applied to
        quality = [None if pd.isna(v) else float(v) for v in f.table[f.metric]]
        space = f.exp.spec.get("space") or {}
        log_params = [p for p in params if isinstance(space.get(p), dict) and space[p].get("log")]
        save("params", plots.params_figure(cols, quality, f.metric_label, log_params))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
