from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from g4r_tune.data.loader import read_events
from g4r_tune.data.stats import dataset_stats, gini, item_overlap, power_law_exponent, top_share


def _events(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["SessionId", "ItemId", "Time"])


def _gini_brute_force(x: np.ndarray) -> float:
    """Mean absolute difference over all pairs / (2 * mean)."""
    x = np.asarray(x, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean()))


def test_gini_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    for counts in (np.array([5, 5, 5]), np.array([1, 0, 0, 0]), rng.integers(1, 100, size=57)):
        assert gini(counts) == pytest.approx(_gini_brute_force(counts))


def test_top_share_and_power_law() -> None:
    counts = np.array([50, 20, 10, 5, 5, 4, 3, 1, 1, 1])  # 100 events
    assert top_share(counts, 0.01) == 0.5  # at least one item
    assert top_share(counts, 0.10) == 0.5
    assert top_share(counts, 0.25) == pytest.approx(0.8)  # ceil(2.5) = 3 items
    # samples of a discrete power law with alpha = 2.5 are estimated close to it
    rng = np.random.default_rng(0)
    samples = np.floor((1 - rng.random(200_000)) ** (-1 / 1.5) * 4.5 + 0.5).astype(int)  # x_min = 5
    samples = samples[samples >= 5]
    assert power_law_exponent(samples) == pytest.approx(2.5, abs=0.1)


def test_dataset_stats_on_a_hand_made_log() -> None:
    events = _events([(1, 10, 0.0), (1, 11, 60), (1, 10, 120), (2, 10, 86_400), (2, 12, 86_460), (3, 11, 2 * 86_400)])
    s = dataset_stats(events, "x")
    assert (s.events, s.sessions, s.items, s.next_item_predictions) == (6, 3, 3, 3)
    assert (s.session_length_mean, s.session_length_median, s.session_length_max) == (2.0, 2.0, 3)
    assert (s.max_item_support, s.min_item_support) == (3, 1)
    assert s.top1pct_items_event_share == 0.5
    assert s.start_utc == "1970-01-01 00:00:00" and s.span_days == 2.0


def test_item_overlap_counts_items_missing_from_the_reference() -> None:
    train = _events([(1, 10, 0), (1, 11, 1)])
    test = _events([(2, 10, 5), (2, 12, 6), (2, 13, 7), (3, 12, 8)])
    overlap = item_overlap(train, test, ("train", "test"))
    assert (overlap.new_items, overlap.new_items_share, overlap.new_item_events_share) == (2, round(2 / 3, 4), 0.75)


def test_serenade_toy_counts_match_its_published_stats(shared_data: Path) -> None:
    folder = shared_data / "serenade_toy"
    published = json.loads((folder / "serenade_toy_stats.json").read_text())
    for split in ("train_full", "test", "train_valid"):
        s = dataset_stats(read_events(folder / f"serenade_toy_{split}.tsv"))
        want = published[split]
        assert (s.events, s.sessions, s.items) == (want["events"], want["sessions"], want["items"])
        assert s.top10pct_items_event_share == want["top10pct_items_event_share"]
        assert s.item_gini == want["item_pop_gini"]
    assert published["train_full"]["events"] == 83_715
