from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from g4r_tune.data.subset import SubsetConfig, subset_events, write_subset
from g4r_tune.errors import ConfigError, DataError

# session -> start time: 5@0, 3@10, 9@20, 1@30 (ids deliberately not in time order), 2 events each
EVENTS = pd.DataFrame(
    {
        "SessionId": [1, 5, 3, 9, 1, 5, 3, 9],
        "ItemId": [7, 1, 2, 3, 8, 4, 5, 6],
        "Time": [30.0, 0, 10, 20, 31, 1, 11, 21],
    }
)


def test_recent_keeps_the_latest_starting_whole_sessions() -> None:
    kept = subset_events(EVENTS, SubsetConfig(fraction=0.5))
    assert sorted(kept["SessionId"].unique()) == [1, 9]
    assert len(kept) == 4
    assert kept["ItemId"].tolist() == [7, 3, 8, 6]  # input row order is kept
    # ceil: a quarter of 4 sessions is one session, the latest
    assert subset_events(EVENTS, SubsetConfig(fraction=0.25))["SessionId"].unique().tolist() == [1]
    assert len(subset_events(EVENTS, SubsetConfig(fraction=1.0))) == 8


def test_random_is_seeded_and_keeps_whole_sessions() -> None:
    a = subset_events(EVENTS, SubsetConfig(fraction=0.5, mode="random", seed=3))
    b = subset_events(EVENTS.iloc[::-1], SubsetConfig(fraction=0.5, mode="random", seed=3))
    assert sorted(a["SessionId"].unique()) == sorted(b["SessionId"].unique())
    assert a.groupby("SessionId").size().eq(2).all() and a["SessionId"].nunique() == 2
    seen = {
        tuple(sorted(subset_events(EVENTS, SubsetConfig(0.5, "random", s))["SessionId"].unique())) for s in range(20)
    }
    assert len(seen) > 1


def test_write_subset(tmp_path: Path) -> None:
    source = tmp_path / "in.tsv"
    EVENTS.to_csv(source, sep="\t", index=False)
    counts = write_subset(source, tmp_path / "sub" / "out.tsv", SubsetConfig(fraction=0.5))
    assert counts == (4, 8, 2, 4)
    assert pd.read_csv(tmp_path / "sub" / "out.tsv", sep="\t")["Time"].tolist() == [30, 20, 31, 21]
    with pytest.raises(DataError, match="overwrite the input"):
        write_subset(source, source, SubsetConfig(fraction=0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 0}, "`fraction` is 0"),
        ({"fraction": 1.5}, "in \\(0, 1\\]"),
        ({"fraction": 0.5, "mode": "old"}, "`mode`"),
    ],
)
def test_config_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SubsetConfig(**kwargs)
