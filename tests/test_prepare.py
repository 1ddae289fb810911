"""The preparation protocol on small hand-made raw files; every expected row below was worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from g4r_tune.data.prepare import PrepareConfig, prepare
from g4r_tune.errors import ConfigError, DataError

T0_MS = 1_600_000_000_000  # RetailRocket timestamps are milliseconds
# (visitor, minute, event, item); comments give the session each row ends up in
RR_ROWS = [
    (1, 0, "view", 10), (1, 50, "addtocart", 10), (1, 100, "view", 20),  # one session: gaps over all types <= 1 h
    (2, 0, "view", 10), (2, 10, "view", 20),  # visitor 2, session 1
    (2, 130, "view", 30), (2, 140, "view", 30), (2, 150, "view", 10),  # 2 h gap: new session; 30,30 deduped
    (3, 200, "view", 99), (3, 210, "view", 50),  # 99 is rare -> [50] too short -> 50 rare -> next session short
    (4, 300, "view", 40), (4, 310, "view", 50),
    (5, 400, "view", 30), (5, 410, "view", 40), (5, 420, "view", 20),
    (6, 1500, "view", 20), (6, 1510, "view", 30),
    (7, 2000, "view", 10), (7, 2010, "view", 60), (7, 2020, "view", 10),  # 60 only in test afterwards
    (8, 2900, "view", 10), (8, 2910, "view", 20), (8, 2920, "view", 30),
    (9, 3000, "view", 60), (9, 3010, "view", 20),
    (10, 4290, "view", 40), (10, 4300, "view", 10),
    (1, 2850, "view", 30), (1, 2900, "view", 40),  # starts 10 min before the test split: stays in train
]  # fmt: skip


def _rr_file(tmp_path: Path) -> Path:
    lines = ["timestamp,visitorid,event,itemid,transactionid"]
    lines += [f"{T0_MS + m * 60_000},{v},{e},{i}," for v, m, e, i in RR_ROWS]
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(path: Path) -> list[tuple[int, int, float]]:
    frame = pd.read_csv(path, sep="\t")
    assert list(frame.columns) == ["SessionId", "ItemId", "Time"]
    return [(int(s), int(i), float(t)) for s, i, t in frame.itertuples(index=False)]


def _minutes(rows: list[tuple[int, int, int]]) -> list[tuple[int, int, float]]:
    return [(s, i, T0_MS / 1000 + m * 60.0) for s, i, m in rows]


def test_retailrocket_protocol_matches_hand_computed_splits(tmp_path: Path) -> None:
    config = PrepareConfig("retailrocket", test_days=1, valid_days=1, min_item_support=2)
    paths, summary = prepare(_rr_file(tmp_path), tmp_path / "out", config)
    # sessions are numbered per visitor in time order: v1 -> 1, 2; v2 -> 3, 4; v3 -> 5; ... v10 -> 12
    assert _rows(paths.train_full) == _minutes(
        [(1, 10, 0), (1, 20, 100), (2, 30, 2850), (2, 40, 2900), (3, 10, 0), (3, 20, 10), (4, 30, 130),
         (4, 10, 150), (7, 30, 400), (7, 40, 410), (7, 20, 420), (8, 20, 1500), (8, 30, 1510)]
    )  # fmt: skip
    # session 9 lost item 60 (only once before the split), then its repeat of 10, then its length
    assert _rows(paths.test) == _minutes(
        [(10, 10, 2900), (10, 20, 2910), (10, 30, 2920), (12, 40, 4290), (12, 10, 4300)]
    )
    assert _rows(paths.train_tr) == _minutes(
        [(1, 10, 0), (1, 20, 100), (3, 10, 0), (3, 20, 10), (4, 30, 130), (4, 10, 150), (7, 30, 400), (7, 20, 420)]
    )
    assert _rows(paths.train_valid) == _minutes([(8, 20, 1500), (8, 30, 1510)])
    assert summary["raw"] == {"rows": 29, "visitors": 10, "sessions_all_event_types": 12, "view_events": 28}
    assert summary["filtered"]["events"] == 23 and summary["filtered"]["sessions"] == 10
    assert summary["test_split_time"] == T0_MS / 1000 + 2860 * 60
    assert summary["valid_split_time"] == T0_MS / 1000 + 1460 * 60
    assert summary["train_full_recleaning"] == {"removed_events": 3, "removed_sessions": 1}
    assert summary["test_restriction"] == {
        "removed_unseen_item_events": 1,
        "removed_repeat_events": 0,
        "dropped_short_sessions": 1,
        "dropped_short_session_events": 1,
    }
    assert summary["train_valid_restriction"]["removed_unseen_item_events"] == 1
    assert summary["train_valid_restriction"]["dropped_short_sessions"] == 1
    assert {k: summary["splits"][k]["events"] for k in summary["splits"]} == {
        "train_full": 13,
        "test": 5,
        "train_tr": 8,
        "train_valid": 2,
    }
    on_disk = json.loads(paths.summary.read_text())
    assert on_disk["splits"]["test"]["file"] == "retailrocket_test.tsv"


def test_retailrocket_no_dedup_keeps_consecutive_repeats(tmp_path: Path) -> None:
    config = PrepareConfig("retailrocket", test_days=1, valid_days=1, min_item_support=2, dedup=False)
    paths, _ = prepare(_rr_file(tmp_path), tmp_path / "out", config, name="rr")
    assert paths.train_full.name == "rr_train_full.tsv"
    session_4 = [(i, t) for s, i, t in _rows(paths.train_full) if s == 4]
    assert [i for i, _ in session_4] == [30, 30, 10]


# Yoochoose: SessionID,Timestamp,ItemID,Category without a header; D0 = 2014-04-01T00:00:00Z
D0 = 1_396_310_400
YC_LINES = """\
10,2014-04-01T10:00:00.000Z,1,0
10,2014-04-01T10:01:00.500Z,2,0
10,2014-04-01T10:02:00.000Z,2,0
11,2014-04-01T11:00:00.000Z,2,S
11,2014-04-01T11:05:00.000Z,3,S
12,2014-04-01T12:00:00.000Z,3,0
12,2014-04-01T12:01:00.000Z,1,0
13,2014-04-02T09:00:00.000Z,1,0
13,2014-04-02T09:01:00.000Z,3,0
14,2014-04-02T10:00:00.000Z,2,0
14,2014-04-02T10:00:10.000Z,9,0
15,2014-04-03T08:00:30.250Z,3,0
15,2014-04-03T08:00:00.000Z,1,0
15,2014-04-03T08:01:00.000Z,7,0
16,2014-04-03T09:00:00.000Z,3,0
16,2014-04-03T09:00:05.000Z,4,0
16,2014-04-03T09:00:10.000Z,2,0
17,2014-04-03T07:00:00.000Z,4,0
17,2014-04-03T07:00:09.000Z,1,0
"""


def test_yoochoose_protocol_matches_hand_computed_splits(tmp_path: Path) -> None:
    raw = tmp_path / "yoochoose-clicks.dat"
    raw.write_text(YC_LINES)
    config = PrepareConfig("yoochoose", valid_days=0.5, min_item_support=2)
    paths, summary = prepare(raw, tmp_path / "out", config)
    day = 86_400
    train_full = [
        (10, 1, D0 + 36000), (10, 2, D0 + 36060.5),
        (11, 2, D0 + 39600), (11, 3, D0 + 39900),
        (12, 3, D0 + 43200), (12, 1, D0 + 43260),
        (13, 1, D0 + day + 32400), (13, 3, D0 + day + 32460),  # starts 10 s before the split: train
    ]  # fmt: skip
    assert _rows(paths.train_full) == train_full
    assert _rows(paths.test) == [
        (15, 1, D0 + 2 * day + 28800),
        (15, 3, D0 + 2 * day + 28830.25),  # 7 was too rare
        (16, 3, D0 + 2 * day + 32400),
        (16, 2, D0 + 2 * day + 32410),  # 4 is unseen in train_full
    ]  # fmt: skip  (17 = [4, 1] lost 4 and became too short)
    assert _rows(paths.train_tr) == train_full[:6]
    assert _rows(paths.train_valid) == train_full[6:]
    assert summary["raw"] == {"rows": 19, "sessions": 8}
    assert summary["test_split_utc"] == "2014-04-02 09:00:10"
    assert summary["test_restriction"]["removed_unseen_item_events"] == 2
    assert summary["test_restriction"]["dropped_short_sessions"] == 1


def _check_invariants(paths, summary: dict, min_support: int) -> None:
    tables = {name: pd.read_csv(getattr(paths, name), sep="\t") for name in summary["splits"]}
    for name, frame in tables.items():
        assert frame.groupby("SessionId").size().min() >= 2, name
        s, i = frame["SessionId"].to_numpy(), frame["ItemId"].to_numpy()
        assert not np.any((s[1:] == s[:-1]) & (i[1:] == i[:-1])), name
        assert summary["splits"][name]["events"] == len(frame)
        assert summary["splits"][name]["sessions"] == frame["SessionId"].nunique()
        assert summary["splits"][name]["items"] == frame["ItemId"].nunique()
    for train, held_out, key in (("train_full", "test", "test"), ("train_tr", "train_valid", "valid")):
        assert tables[train]["ItemId"].value_counts().min() >= min_support
        assert tables[held_out]["ItemId"].isin(tables[train]["ItemId"]).all()
        assert tables[held_out].groupby("SessionId")["Time"].min().min() >= summary[f"{key}_split_time"]
        assert tables[train].groupby("SessionId")["Time"].min().max() < summary[f"{key}_split_time"]


def test_invariants_hold_on_a_larger_random_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    lines = ["timestamp,visitorid,event,itemid,transactionid"]
    visitor = rng.integers(0, 800, n)
    millis = T0_MS + rng.integers(0, 20 * 86_400_000, n)
    event = rng.choice(["view", "view", "view", "addtocart", "transaction"], n)
    item = (rng.pareto(1.0, n) * 5).astype(int) % 400  # skewed, with many repeats
    lines += [f"{t},{v},{e},{i}," for t, v, e, i in zip(millis, visitor, event, item, strict=True)]
    raw = tmp_path / "events.csv"
    raw.write_text("\n".join(lines) + "\n")
    progress: list[str] = []
    paths, summary = prepare(
        raw, tmp_path / "o", PrepareConfig("retailrocket"), progress=lambda s, d, t: progress.append(s)
    )
    _check_invariants(paths, summary, 5)
    assert "reading" in progress and any(p.startswith("writing") for p in progress)


def test_shared_serenade_raw_is_prepared_with_the_invariants(shared_data: Path, tmp_path: Path) -> None:
    raw = pd.concat(pd.read_csv(p, sep="\t") for p in sorted((shared_data / "serenade_toy" / "raw").glob("*.txt")))
    lines = [f"{int(t * 1000)},{s},view,{i}," for s, i, t in raw.itertuples(index=False)]
    path = tmp_path / "events.csv"
    path.write_text("timestamp,visitorid,event,itemid,transactionid\n" + "\n".join(lines) + "\n")
    paths, summary = prepare(path, tmp_path / "o", PrepareConfig("retailrocket", test_days=1))
    _check_invariants(paths, summary, 5)


@pytest.mark.parametrize(
    ("dataset", "text", "expected"),
    [
        ("retailrocket", "time,visitorid,event,itemid\n1,2,view,3\n", "missing column 'timestamp'"),
        ("retailrocket", "timestamp,visitorid,event,itemid,transactionid\n1,x,view,3,\n", r"line 2, column 'visitor"),
        ("retailrocket", "timestamp,visitorid,event,itemid,transactionid\n1,2,view,,\n", r"line 2, column 'itemid'"),
        ("retailrocket", "timestamp,visitorid,event,itemid,transactionid\n1,2,addtocart,3,\n", "no usable events"),
        ("yoochoose", "1,2014-04-01T10:00:00Z,5,0\n1,yesterday,6,0\n", r"line 2, column 2 \(Timestamp\): 'yest"),
        ("yoochoose", "1\t2014-04-01T10:00:00Z\t5\n", "separated by commas"),
        ("yoochoose", "", "file is empty"),
    ],
)
def test_bad_raw_files_name_the_line(tmp_path: Path, dataset: str, text: str, expected: str) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(text)
    with pytest.raises(DataError, match=expected):
        prepare(raw, tmp_path / "out", PrepareConfig(dataset))


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="`dataset` is 'movielens', but must be one of retailrocket, yoochoose"):
        PrepareConfig("movielens")
    with pytest.raises(ConfigError, match="`test_days` is 0"):
        PrepareConfig("yoochoose", test_days=0)
    with pytest.raises(ConfigError, match="`min_item_support` is 0"):
        PrepareConfig("yoochoose", min_item_support=0)
    with pytest.raises(ConfigError, match="`session_gap` is -1"):
        PrepareConfig("retailrocket", session_gap=-1)
    assert PrepareConfig("retailrocket").split_config().test_days == 7.0
    assert PrepareConfig("yoochoose").split_config().valid_days == 1.0
