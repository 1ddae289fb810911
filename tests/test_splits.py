from __future__ import annotations

import pandas as pd
import pytest

from g4r_tune.data.splits import SplitConfig, clean, make_splits, sort_events, split_by_session_start
from g4r_tune.errors import ConfigError, DataError


def _events(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["SessionId", "ItemId", "Time"])


def test_clean_iterates_until_stable() -> None:
    # min support 2: item 9 goes first; session 2 becomes [5] and goes; then item 5 (1 event left) and session 3
    events = _events(
        [(1, 1, 0), (1, 2, 1), (2, 9, 2), (2, 5, 3), (3, 5, 4), (3, 1, 5), (4, 2, 6), (4, 2, 7), (4, 1, 8)]
    )
    kept = clean(sort_events(events), SplitConfig(min_item_support=2))
    assert list(kept.itertuples(index=False, name=None)) == [(1, 1, 0), (1, 2, 1), (4, 2, 6), (4, 1, 8)]
    kept = clean(sort_events(events), SplitConfig(min_item_support=2, dedup=False))
    assert (4, 2, 7) in list(kept.itertuples(index=False, name=None))


def test_sort_events_groups_sessions_and_orders_time() -> None:
    events = _events([(2, 1, 5), (1, 1, 9), (2, 2, 3), (1, 2, 1)])
    assert sort_events(events)["Time"].tolist() == [1, 9, 3, 5]


def test_split_uses_the_session_start_and_includes_the_boundary() -> None:
    day = 86_400
    events = _events(
        [(1, 1, 0), (1, 2, day + 10), (2, 1, day + 10), (2, 2, 2 * day + 10), (3, 1, 2 * day), (3, 2, 2 * day)]
    )
    older, recent, split = split_by_session_start(sort_events(events), 1.0)
    assert split == day + 10
    assert older["SessionId"].unique().tolist() == [1]  # ends after the split but starts before it
    assert recent["SessionId"].unique().tolist() == [2, 3]  # session 2 starts exactly at the split


def test_make_splits_fails_clearly_without_training_data() -> None:
    events = _events([(1, 1, 0), (1, 2, 10), (2, 1, 20), (2, 2, 30)])
    with pytest.raises(DataError, match="no training data is left before the test split"):
        make_splits(events, SplitConfig(min_item_support=1))
    with pytest.raises(DataError, match="no events are left"):
        make_splits(events, SplitConfig(min_item_support=10))


def test_split_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="`valid_days` is -1"):
        SplitConfig(valid_days=-1)
    with pytest.raises(ConfigError, match="`min_session_length` is 1"):
        SplitConfig(min_session_length=1)
