"""Plots of dataset statistics (`data stats --plot`): item popularity and session length distributions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter


def plot_data_distributions(named: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """Two panels for each named dataset ``(item_counts, session_lengths)``.

    Left: events per item against popularity rank, log-log (a straight line is a power law).
    Right: share of sessions of each length, log-log.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_items, ax_lengths = fig.subplots(1, 2)
    for name, (counts, lengths) in named.items():
        counts = np.sort(np.asarray(counts))[::-1]
        ax_items.loglog(np.arange(1, len(counts) + 1), counts, label=name, linewidth=1.4)
        values, freq = np.unique(np.asarray(lengths), return_counts=True)
        ax_lengths.loglog(values, freq / freq.sum(), marker="o", markersize=3, linewidth=1.0, label=name)
    ax_items.set(title="Item popularity", xlabel="item rank", ylabel="events per item")
    ax_lengths.set(title="Session length", xlabel="events in session", ylabel="share of sessions")
    longest = max((int(np.max(lengths)) for _, lengths in named.values() if len(lengths)), default=2)
    ax_lengths.set_xticks([t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= longest])
    ax_lengths.xaxis.set_major_formatter(ScalarFormatter())  # plain 2, 5, 10 rather than 2x10^0
    ax_lengths.xaxis.set_minor_formatter(NullFormatter())
    for ax in (ax_items, ax_lengths):
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    return fig
