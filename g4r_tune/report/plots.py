"""Report figures. Each function takes plain data and returns a matplotlib Figure (the caller saves it)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: reports are written from servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402


def convergence_figure(
    curves: Sequence[tuple[str, Sequence[int], Sequence[float], Sequence[float | None], int | None]], metric: str
) -> Figure:
    """Per-epoch ``metric`` (left) and training loss (right); curves = (label, epochs, metric, loss, stop epoch).

    The stop epoch (first within tolerance of the best) is marked with a ring."""
    fig, (ax_m, ax_l) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, epochs, values, losses, stop in curves:
        (line,) = ax_m.plot(epochs, values, marker="o", ms=3, label=label)
        if stop is not None and stop in epochs:
            y = values[list(epochs).index(stop)]
            ax_m.plot([stop], [y], marker="o", ms=11, mfc="none", mec=line.get_color(), mew=1.8)
        pts = [(e, v) for e, v in zip(epochs, losses, strict=False) if v is not None]
        if pts:
            ax_l.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=line.get_color(), label=label)
    ax_m.set(xlabel="epoch", ylabel=f"validation {metric}", title=f"{metric} per epoch (ring: converged)")
    ax_l.set(xlabel="epoch", ylabel="training loss", title="training loss per epoch")
    for ax in (ax_m, ax_l):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_m.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def latency_scatter(
    p99_ms: Sequence[float],
    quality: Sequence[float],
    labels: Sequence[str],
    front: Sequence[bool],
    budget_ms: float,
    metric: str,
) -> Figure:
    """Quality vs p99 latency per configuration, the Pareto front joined, the p99 budget as a vertical line."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.scatter(p99_ms, quality, s=28, color="#8aa4c8", label="configuration")
    pts = sorted((p, q) for p, q, f in zip(p99_ms, quality, front, strict=True) if f)
    if pts:
        ax.plot([p for p, _ in pts], [q for _, q in pts], "-o", color="#d0504f", ms=6, label="Pareto front")
    for p, q, lab, f in zip(p99_ms, quality, labels, front, strict=True):
        if f:
            ax.annotate(lab, (p, q), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if budget_ms <= max(p99_ms, default=0) * 1.5:
        ax.axvline(budget_ms, color="gray", ls="--", label=f"p99 budget {budget_ms:g} ms")
    ax.set(xlabel="p99 latency per request (ms, 1 request = 1 click)", ylabel=f"best validation {metric}")
    ax.set_title(
        f"{metric} vs p99 latency"
        + ("" if budget_ms <= max(p99_ms, default=0) * 1.5 else f" (all far below the {budget_ms:g} ms budget)")
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def best_so_far_figure(values: Sequence[float | None], running_best: Sequence[float | None], metric: str) -> Figure:
    """Each trial's best value and the running best, against trial index."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    idx = [i + 1 for i, v in enumerate(values) if v is not None]
    ax.scatter(idx, [v for v in values if v is not None], s=18, color="#8aa4c8", label="trial")
    run_idx = [i + 1 for i, v in enumerate(running_best) if v is not None]
    ax.step(run_idx, [v for v in running_best if v is not None], where="post", color="#d0504f", label="best so far")
    ax.set(xlabel="trial index (in start order)", ylabel=f"best validation {metric}", title="search progress")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def importance_figure(importances: Mapping[str, float]) -> Figure:
    """Horizontal bars of parameter importances (largest on top)."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.4))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#5b84b1")
    ax.set(xlabel="importance (share, sums to 1)", title="hyperparameter importance")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def params_figure(
    columns: Mapping[str, Sequence[Any]], quality: Sequence[float | None], metric: str, log_scale: Sequence[str] = ()
) -> Figure:
    """One small scatter per searched parameter: the trial's best metric against the parameter's value
    (log x axis for parameters searched on a log scale)."""
    names = list(columns)
    n_cols = min(3, max(len(names), 1))
    n_rows = max(math.ceil(len(names) / n_cols), 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4 * n_cols, 3.1 * n_rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pairs = [(x, y) for x, y in zip(columns[name], quality, strict=True) if y is not None and x is not None]
        xs = [p[0] for p in pairs]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        if numeric:
            ax.scatter(xs, [p[1] for p in pairs], s=16, color="#5b84b1")
            if name in log_scale and xs and min(xs) > 0:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on a short log range
        else:
            cats = sorted({str(x) for x in xs})
            ax.scatter([cats.index(str(x)) for x in xs], [p[1] for p in pairs], s=16, color="#5b84b1")
            ax.set_xticks(range(len(cats)), cats, rotation=20, fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.supylabel(f"best validation {metric}", fontsize=10)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
