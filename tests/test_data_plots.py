from __future__ import annotations

import numpy as np

from g4r_tune.report.data_plots import plot_data_distributions


def test_one_line_per_dataset_in_both_panels() -> None:
    fig = plot_data_distributions(
        {"a": (np.array([9, 4, 1]), np.array([2, 2, 3])), "b": (np.array([5, 5]), np.array([2, 40]))}
    )
    items, lengths = fig.axes
    assert [line.get_label() for line in items.get_lines()] == ["a", "b"]
    assert items.get_lines()[0].get_ydata().tolist() == [9, 4, 1]
    # session lengths as shares of sessions
    assert lengths.get_lines()[0].get_xdata().tolist() == [2, 3]
    assert lengths.get_lines()[0].get_ydata().tolist() == [2 / 3, 1 / 3]
    assert items.get_xscale() == "log" and lengths.get_yscale() == "log"
