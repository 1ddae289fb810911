from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from g4r_tune.data.loader import ColumnNames, load_sessions, read_events
from g4r_tune.data.sessions import ItemIndex
from g4r_tune.errors import DataError

GOOD_TSV = "SessionId\tItemId\tTime\n1\t10\t100\n1\t11\t101\n2\t11\t50\n2\t12\t55\n2\t10\t60\n"


def _write(tmp_path: Path, text: str, name: str = "clicks.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_tsv_into_sessions_ordered_by_start(tmp_path: Path) -> None:
    result = load_sessions(_write(tmp_path, GOOD_TSV))
    data = result.data
    assert data.item_index.ids.tolist() == [10, 11, 12]
    assert data.session_ids.tolist() == [2, 1]  # session 2 starts at t=50
    assert data.offsets.tolist() == [0, 3, 5]
    assert data.items.tolist() == [1, 2, 0, 0, 1]
    assert data.times.tolist() == [50.0, 55.0, 60.0, 100.0, 101.0]
    assert result.n_dropped_unknown == 0
    assert result.notes == []


def test_csv_parquet_and_custom_columns_give_the_same_sessions(tmp_path: Path) -> None:
    frame = pd.read_csv(_write(tmp_path, GOOD_TSV), sep="\t")
    renamed = frame.rename(columns={"SessionId": "sid", "ItemId": "iid", "Time": "ts"})
    renamed.to_csv(tmp_path / "c.csv", index=False)
    renamed.to_parquet(tmp_path / "c.parquet")
    cols = ColumnNames(session="sid", item="iid", time="ts")
    reference = load_sessions(tmp_path / "clicks.tsv").data
    for name in ("c.csv", "c.parquet"):
        data = load_sessions(tmp_path / name, columns=cols).data
        assert data.items.tolist() == reference.items.tolist()
        assert data.offsets.tolist() == reference.offsets.tolist()
        assert data.session_ids.tolist() == reference.session_ids.tolist()
    # auto-detection by content: a comma-separated file with a .txt name
    _write(tmp_path, frame.to_csv(index=False), "c.txt")
    assert load_sessions(tmp_path / "c.txt").data.n_events == 5


def test_parquet_datetime_time_column_is_converted_to_seconds(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "SessionId": [1, 1],
            "ItemId": ["a", "b"],
            "Time": pd.to_datetime(["2014-04-07T10:51:09.277Z", "2014-04-07T10:51:10Z"], utc=True, format="ISO8601"),
        }
    )
    frame.to_parquet(tmp_path / "t.parquet")
    data = load_sessions(tmp_path / "t.parquet").data
    assert data.times.tolist() == pytest.approx([1396867869.277, 1396867870.0])
    assert data.item_index.ids.tolist() == ["a", "b"]


def test_string_item_ids_are_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, "SessionId\tItemId\tTime\n1\tx9\t1\n1\ta1\t2\n")
    data = load_sessions(path).data
    assert data.item_index.ids.tolist() == ["a1", "x9"]
    assert data.items.tolist() == [1, 0]


def test_unsorted_input_is_sorted_and_said_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "SessionId\tItemId\tTime\n1\t10\t101\n2\t11\t50\n1\t11\t100\n2\t12\t55\n")
    result = load_sessions(path)
    assert len(result.notes) == 1 and "not sorted" in result.notes[0]
    assert result.data.session_ids.tolist() == [2, 1]
    assert result.data.items.tolist() == [1, 2, 1, 0]


def test_unknown_items_are_dropped_and_counted_and_short_sessions_removed(tmp_path: Path) -> None:
    index = ItemIndex.from_ids(np.array([10, 11]))
    path = _write(tmp_path, "SessionId\tItemId\tTime\n1\t10\t1\n1\t99\t2\n1\t11\t3\n2\t10\t4\n2\t98\t5\n3\t97\t6\n")
    result = load_sessions(path, index)
    assert result.n_dropped_unknown == 3
    assert result.n_dropped_short_sessions == 1  # session 2 keeps one event; session 3 none at all
    assert result.data.session_ids.tolist() == [1]
    assert result.data.items.tolist() == [0, 1]
    assert result.data.n_items == 2  # the given index is kept, not rebuilt
    assert any("not in the item index" in n for n in result.notes)
    assert any("fewer than 2 events" in n for n in result.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SessionId\tItemId\tTime\n1\t10\t1\n1\t11\tabc\n", r"line 3, column 'Time': time 'abc' is not a number"),
        ("SessionId\tItemId\tTime\n1\t10\t1\nx\t11\t2\n", r"line 3, column 'SessionId': session id 'x' is not an int"),
        ("SessionId\tItemId\tTime\n1\t10\t1\n1.5\t11\t2\n", r"line 3, column 'SessionId': session id 1.5 is not an"),
        ("SessionId\tItemId\tTime\n1\t10\t1\n1\t11\t\n", r"line 3, column 'Time': empty or NaN value"),
        ("SessionId\tItemId\tTime\n1\t10\t1\n1\t11\tNaN\n", r"line 3, column 'Time': empty or NaN value"),
        ("SessionId\tItemId\tTime\n1\t10\t1\n1\t\t2\n2\t3\t4\n", r"line 3, column 'ItemId': empty or NaN value"),
        ("SessionId\tItemId\tTime\n1\t10\t1\n\t11\t2\n", r"line 3, column 'SessionId': empty or NaN value"),
        ("SessionId\tItem\tTime\n1\t10\t1\n", r"line 1: missing item column 'ItemId'; the columns are"),
        ("SessionId,ItemId,Time\n1,10,1\n", r"single column: is the file comma-separated"),
        ("SessionId\tItemId\tTime\n", r"no events"),
        ("", r"file is empty"),
    ],
)
def test_bad_input_names_file_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text, "bad.dat")
    with pytest.raises(DataError, match=expected) as info:
        load_sessions(path, fmt="tsv")
    assert str(path) in str(info.value)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_sessions(tmp_path / "nope.tsv")
    path = _write(tmp_path, GOOD_TSV)
    with pytest.raises(DataError, match="unknown format 'xlsx'"):
        read_events(path, fmt="xlsx")


def test_parquet_errors_name_the_file(tmp_path: Path) -> None:
    pd.DataFrame({"SessionId": [1.0, 2.5], "ItemId": [1, 2], "Time": [1.0, 2.0]}).to_parquet(tmp_path / "f.parquet")
    with pytest.raises(DataError, match=r"row 1, column 'SessionId': session id 2.5 is not an integer"):
        load_sessions(tmp_path / "f.parquet")
    pd.DataFrame({"SessionId": [1, 2], "ItemId": [1, 2]}).to_parquet(tmp_path / "g.parquet")
    with pytest.raises(DataError, match="missing time column 'Time'"):
        load_sessions(tmp_path / "g.parquet")
    (tmp_path / "h.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_sessions(tmp_path / "h.parquet")


def test_column_names_must_be_distinct() -> None:
    with pytest.raises(DataError, match="distinct"):
        ColumnNames(session="a", item="a", time="t")


def test_shared_serenade_toy_loads_with_its_published_counts(shared_data: Path) -> None:
    folder = shared_data / "serenade_toy"
    train = load_sessions(folder / "serenade_toy_train_full.tsv")
    assert (train.data.n_events, train.data.n_sessions, train.data.n_items) == (83_715, 17_584, 8_676)
    test = load_sessions(folder / "serenade_toy_test.tsv", train.data.item_index)
    assert test.n_dropped_unknown == 0 and test.data.n_events == 2_010


def test_fast_path_for_sorted_input_builds_the_same_sessions() -> None:
    from g4r_tune.data.sessions import SessionData

    rng = np.random.default_rng(5)
    n = 2000
    sid = rng.integers(0, 300, n)
    time = rng.integers(0, 500, n).astype(float)  # many ties, within and across sessions
    item = rng.integers(0, 50, n)
    index = ItemIndex.from_ids(np.arange(50))
    shuffled = SessionData.from_arrays(sid, item, time, index)  # general path
    order = np.lexsort((time, sid))
    grouped = SessionData.from_arrays(sid[order], item[order], time[order], index)  # fast path
    for field in ("items", "offsets", "times", "session_ids"):
        assert getattr(grouped, field).tolist() == getattr(shuffled, field).tolist()
    starts = shuffled.times[shuffled.offsets[:-1]]
    assert np.all(np.diff(starts) >= 0)
