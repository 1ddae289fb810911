"""The session-parallel iterator against a naive lane-by-lane simulation of the spec."""

from __future__ import annotations

import numpy as np
import pytest

from g4r_tune.batching import SessionBatches
from g4r_tune.data.sessions import ItemIndex, SessionData


def _data(lengths: list[int], seed: int = 0) -> SessionData:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    sids = np.repeat(np.arange(len(lengths)), lengths)
    return SessionData.from_arrays(
        sids, rng.integers(0, 50, n), np.arange(n, dtype=float), ItemIndex.from_ids(np.arange(50))
    )


def _naive(data: SessionData, batch: int, min_lanes: int):
    """Lanes as a Python list of [session, cursor]; yields (inputs, targets, reset, lane sessions)."""
    sessions = [list(data.items[data.offsets[s] : data.offsets[s + 1]]) for s in range(data.n_sessions)]
    queue = [s for s in sessions if len(s) >= 2]
    lanes = [[queue.pop(0), 0, True] for _ in range(min(batch, len(queue)))]
    out = []
    while len(lanes) >= min_lanes and lanes:
        out.append(([l[0][l[1]] for l in lanes], [l[0][l[1] + 1] for l in lanes], [l[2] for l in lanes]))
        nxt = []
        for lane in lanes:
            lane[1] += 1
            lane[2] = False
            if lane[1] + 1 >= len(lane[0]):
                if not queue:
                    continue  # dropped: the batch shrinks
                lane[0], lane[1], lane[2] = queue.pop(0), 0, True
            nxt.append(lane)
        lanes = nxt
    return out


@pytest.mark.parametrize("batch", [1, 3, 4, 50])
@pytest.mark.parametrize("min_lanes", [1, 2])
def test_matches_naive_simulation(batch: int, min_lanes: int) -> None:
    data = _data([3, 1, 2, 5, 2, 7, 4, 1, 2, 3, 6, 2])
    got = [(s.inputs.tolist(), s.targets.tolist(), s.reset.tolist()) for s in SessionBatches(data, batch, min_lanes)]
    want = [([int(v) for v in a], [int(v) for v in b], c) for a, b, c in _naive(data, batch, min_lanes)]
    assert got == want


def test_every_non_last_event_is_an_input_once_and_keep_tracks_lanes() -> None:
    lengths = list(np.random.default_rng(1).integers(1, 9, 300))
    data = _data(lengths, seed=1)
    batches = SessionBatches(data, 16)
    assert batches.n_predictions == data.n_predictions
    # follow event positions: each step's input is the previous step's target for lanes that did not reset
    n_inputs, prev_targets = 0, None
    for step in batches:
        if prev_targets is not None:
            carried = prev_targets if step.keep is None else prev_targets[step.keep]
            assert len(carried) == len(step.inputs)
            assert (step.inputs[~step.reset] == carried[~step.reset]).all()
        prev_targets = step.targets
        n_inputs += len(step.inputs)
    assert n_inputs == data.n_predictions


def test_min_lanes_two_stops_early_and_empty_data() -> None:
    data = _data([2, 9])
    assert sum(len(s.inputs) for s in SessionBatches(data, 2, min_lanes=2)) == 2  # stops once one lane remains
    assert sum(len(s.inputs) for s in SessionBatches(data, 2, min_lanes=1)) == 9
    assert list(SessionBatches(_data([1, 1]), 4)) == []
