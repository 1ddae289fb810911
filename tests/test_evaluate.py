"""evaluate() against a brute-force loop that runs each session alone, one event at a time."""

from __future__ import annotations

import pytest
import torch

from g4r_tune.config import EvalConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import DataError
from g4r_tune.evaluate import EvalResult, evaluate
from tests._evaluate_util import TinyRecurrentModel, random_sessions

CUTOFFS = (1, 3, 5, 20)


def _brute_force(model: TinyRecurrentModel, data: SessionData, ties: str) -> tuple[dict, dict, int]:
    ranks: list[float] = []
    with torch.no_grad():
        model.eval()
        for s in range(data.n_sessions):
            session = data.items[data.offsets[s] : data.offsets[s + 1]].tolist()
            hidden = model.init_hidden(1)
            for current, target in zip(session[:-1], session[1:], strict=True):
                out, hidden = model.step(torch.tensor([current]), hidden)
                row = model.score_all(out)[0].tolist()
                t = row[target]
                greater = sum(v > t for v in row)
                others_equal = sum(v == t for v in row) - 1
                extra = {"standard": 0.0, "conservative": others_equal, "median": others_equal / 2}[ties]
                ranks.append(1.0 + greater + extra)
    n = len(ranks)
    recall = {k: sum(r <= k for r in ranks) / n for k in CUTOFFS}
    mrr = {k: sum(1 / r for r in ranks if r <= k) / n for k in CUTOFFS}
    return recall, mrr, n


@pytest.mark.parametrize("ties", ["standard", "conservative", "median"])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 512])
def test_matches_brute_force_with_ties(ties: str, batch_size: int) -> None:
    lengths = [2, 5, 1, 3, 9, 2, 2, 4, 7, 3, 2, 6, 1, 2, 8]
    data = random_sessions(30, lengths, seed=1)
    model = TinyRecurrentModel(30, seed=2, integer_scores=True).double()
    result = evaluate(model, data, EvalConfig(cutoffs=CUTOFFS, ties=ties, batch_size=batch_size), n_dropped_unknown=4)
    recall, mrr, n = _brute_force(model, data, ties)
    assert result.n_predictions == n == sum(length - 1 for length in lengths)
    assert result.n_dropped_unknown == 4 and result.ties == ties
    for k in CUTOFFS:
        assert result.recall[k] == pytest.approx(recall[k], abs=1e-12)
        assert result.mrr[k] == pytest.approx(mrr[k], abs=1e-12)


def test_tie_modes_differ_on_tied_scores() -> None:
    data = random_sessions(30, [6] * 20, seed=3)
    model = TinyRecurrentModel(30, seed=4, integer_scores=True).double()
    results = {t: evaluate(model, data, EvalConfig(ties=t)) for t in ("standard", "median", "conservative")}
    assert results["standard"].recall[20] >= results["median"].recall[20] >= results["conservative"].recall[20]
    assert results["standard"].mrr[1] > results["conservative"].mrr[1]


def test_single_session_and_fewer_sessions_than_batch() -> None:
    model = TinyRecurrentModel(12, seed=0).double()
    one = random_sessions(12, [5], seed=6)
    result = evaluate(model, one)
    recall, mrr, n = _brute_force(model, one, "conservative")
    assert result.n_predictions == n == 4
    assert result.recall[20] == pytest.approx(1.0) and result.mrr[5] == pytest.approx(mrr[5])


def test_zero_predictions_is_a_clear_error() -> None:
    model = TinyRecurrentModel(12)
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate(model, random_sessions(12, [1, 1, 1]), n_dropped_unknown=7)
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate(model, random_sessions(12, []))


def test_item_index_mismatch_is_an_error() -> None:
    with pytest.raises(DataError, match="item index"):
        evaluate(TinyRecurrentModel(12), random_sessions(13, [3, 4]))


def test_restores_training_mode_and_is_deterministic_despite_dropout() -> None:
    model = TinyRecurrentModel(40, seed=7)
    data = random_sessions(40, [4, 6, 3, 8, 2] * 10, seed=8)
    model.train()
    first = evaluate(model, data)
    assert model.training
    assert evaluate(model, data) == first
    model.eval()
    evaluate(model, data)
    assert not model.training


def test_progress_and_metrics_dict() -> None:
    data = random_sessions(20, [3, 4, 5], seed=9)
    seen: list[tuple[int, int]] = []
    config = EvalConfig(cutoffs=(20, 5), batch_size=2)
    result = evaluate(TinyRecurrentModel(20), data, config, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9, 9) and all(t == 9 for _, t in seen)
    assert list(result.as_metrics()) == ["recall@5", "recall@20", "mrr@5", "mrr@20"]
    assert isinstance(result, EvalResult) and result.to_dict()["recall"]["20"] == result.recall[20]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    data = random_sessions(50, [5, 3, 9, 2, 7] * 30, seed=10)
    model = TinyRecurrentModel(50, seed=11).double()
    on_cpu = evaluate(model, data)
    on_gpu = evaluate(model.cuda(), data)
    for k in on_cpu.recall:
        assert on_gpu.recall[k] == pytest.approx(on_cpu.recall[k], abs=1e-9)
        assert on_gpu.mrr[k] == pytest.approx(on_cpu.mrr[k], abs=1e-9)


def test_scoring_in_row_blocks_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import g4r_tune.evaluate as evaluate_module

    data = random_sessions(30, [4, 7, 2, 5, 3] * 8, seed=12)
    model = TinyRecurrentModel(30, seed=13, integer_scores=True).double()
    whole = evaluate(model, data, EvalConfig(batch_size=16))
    monkeypatch.setattr(evaluate_module, "_SCORE_BLOCK_ELEMENTS", 30 * 3)  # 3 rows per block
    assert evaluate(model, data, EvalConfig(batch_size=16)) == whole
