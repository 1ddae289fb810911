from __future__ import annotations

import numpy as np
import pytest

from g4r_tune.data.sessions import ItemIndex, SessionData
from g4r_tune.errors import DataError


def test_item_index_encodes_and_round_trips_json() -> None:
    index = ItemIndex.from_ids(np.array([50, 30, 90, 30]))
    assert index.ids.tolist() == [30, 50, 90]
    idx, known = index.encode(np.array([90, 7, 30]))
    assert idx.tolist() == [2, -1, 0]
    assert known.tolist() == [True, False, True]
    assert ItemIndex.from_json(index.to_json()).ids.tolist() == index.ids.tolist()
    strings = ItemIndex.from_ids(np.array(["b", "a"]))
    assert strings.encode(np.array(["a", "z"]))[0].tolist() == [0, -1]
    assert ItemIndex.from_json(strings.to_json()).ids.tolist() == ["a", "b"]


def test_session_data_orders_sessions_by_start_and_events_by_time() -> None:
    index = ItemIndex.from_ids(np.arange(3))
    data = SessionData.from_arrays(
        np.array([2, 2, 1, 1, 1]), np.array([0, 1, 2, 1, 0]), np.array([10.0, 11, 5, 7, 6]), index
    )
    assert data.session_ids.tolist() == [1, 2]
    assert data.items.tolist() == [2, 0, 1, 0, 1]
    assert data.offsets.tolist() == [0, 3, 5]
    assert data.n_predictions == 3
    assert data.item_support().tolist() == [2, 2, 1]


def test_session_data_rejects_inconsistent_arrays() -> None:
    with pytest.raises(DataError):
        SessionData(
            np.zeros(3, np.int64), np.array([0, 2]), np.zeros(3), np.array([1]), ItemIndex.from_ids(np.arange(1))
        )
