from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _data_util import markov_recall, popularity_recall

from g4r_tune.data.loader import load_sessions
from g4r_tune.data.synthetic import SynthConfig, generate_clicks, write_synthetic_splits
from g4r_tune.errors import ConfigError

SMALL = SynthConfig(n_items=400, n_sessions=1500, days=5, seed=3)


def test_generation_is_deterministic_per_seed() -> None:
    a, b = generate_clicks(SMALL), generate_clicks(SMALL)
    pd.testing.assert_frame_equal(a, b)
    c = generate_clicks(SynthConfig(n_items=400, n_sessions=1500, days=5, seed=4))
    assert not a["ItemId"].equals(c["ItemId"])


def test_clicks_have_the_requested_shape() -> None:
    clicks = generate_clicks(SMALL)
    assert list(clicks.columns) == ["SessionId", "ItemId", "Time"]
    assert clicks["SessionId"].nunique() == SMALL.n_sessions
    assert clicks["ItemId"].between(1, SMALL.n_items).all()
    assert clicks.groupby("SessionId").size().min() >= 2
    span = clicks["Time"].max() - clicks["Time"].min()
    assert 4 * 86_400 < span <= SMALL.days * 86_400
    # sessions are numbered by start time and events are time ordered inside a session
    starts = clicks.groupby("SessionId")["Time"].min().to_numpy()
    assert np.all(np.diff(starts) >= 0)
    assert clicks.groupby("SessionId")["Time"].apply(lambda t: t.is_monotonic_increasing).all()


def test_popularity_is_skewed_like_a_power_law() -> None:
    counts = generate_clicks(SynthConfig()).value_counts("ItemId").to_numpy()  # sorted, descending
    top_decile_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert 0.3 < top_decile_share < 0.8
    assert counts[0] > 20 * np.median(counts)


def test_default_splits_are_learnable_but_not_trivial(tmp_path: Path) -> None:
    paths = write_synthetic_splits(tmp_path, SynthConfig())
    assert [p.name for p in (paths.train_full, paths.test, paths.train_tr, paths.train_valid)] == [
        "synth_train_full.tsv",
        "synth_test.tsv",
        "synth_train_tr.tsv",
        "synth_train_valid.tsv",
    ]
    train, test = (pd.read_csv(p, sep="\t") for p in (paths.train_full, paths.test))
    pop, markov = popularity_recall(train, test), markov_recall(train, test)
    assert markov < 0.85  # far from solved by a first-order model
    assert pop < 0.5 * markov  # popularity alone is far behind: the sequential structure is learnable
    summary = json.loads(paths.summary.read_text())
    assert summary["config"] == {"n_items": 2000, "n_sessions": 8000, "days": 7.0, "seed": 42}
    for split in ("train_full", "test", "train_tr", "train_valid"):
        assert summary["splits"][split]["events"] == len(pd.read_csv(getattr(paths, split), sep="\t"))
    loaded = load_sessions(paths.train_full)
    assert loaded.notes == [] and loaded.data.n_sessions == summary["splits"]["train_full"]["sessions"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_items": 10}, "`n_items` is 10, but must be an integer >= 80"),
        ({"n_sessions": 2.5}, "`n_sessions` is 2.5"),
        ({"days": 1}, "`days` is 1, but must be >= 3"),
        ({"seed": -1}, "`seed` is -1"),
    ],
)
def test_config_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SynthConfig(**kwargs)
