"""Golden checks of the report's analyses on the contract fixture (numbers worked out by hand in the comments)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _report_util import MAX_EPOCHS, build_experiment

from g4r_tune.report import analysis
from g4r_tune.report.reader import read_experiment


@pytest.fixture(scope="module")
def exp(tmp_path_factory: pytest.TempPathFactory):
    return read_experiment(build_experiment(tmp_path_factory.mktemp("exp"), with_checkpoints=False))


def test_ranking_and_top_table_golden(exp) -> None:
    table = analysis.trials_table(exp)
    assert list(table["trial_id"]) == [f"t_0000{i}" for i in range(6)]  # start order = g4r_trials.json order
    ranked = analysis.rank_trials(table, "recall@20", "max")
    # the errored trial is not ranked; best values: t2 0.40 (epoch 3), t0 0.35 (4), t5 0.3302 (3), t4 0.25, t1 0.10
    assert list(ranked["trial_id"]) == ["t_00002", "t_00000", "t_00005", "t_00004", "t_00001"]
    assert list(ranked["best_epoch"]) == [3, 4, 3, 2, 1]
    top = ranked.iloc[0]
    assert top["recall@20"] == 0.40 and top["recall@5"] == pytest.approx(0.24) and top["mrr@20"] == pytest.approx(0.16)
    assert top["seconds_per_epoch"] == 2.0 and top["train_seconds"] == 8.0
    assert top["config.layers"] == 64 and top["config.learning_rate"] == 0.08


def test_budget_golden(exp) -> None:
    b = analysis.budget(exp, analysis.trials_table(exp))
    # epochs 4+1+4+1+2+4 = 16 of 6 x 4 = 24
    assert (b.n_trials, b.n_completed, b.n_stopped_early, b.n_errored) == (6, 5, 2, 1)
    assert (b.epochs_run, b.epochs_full) == (16, 24)
    assert b.epochs_saved_fraction == pytest.approx(1 / 3)
    assert b.wall_seconds == 60.0


def test_convergence_golden(exp) -> None:
    by_id = {t.trial_id: t for t in exp.trials}
    c2 = analysis.convergence(by_id["t_00002"], "recall@20", "max", 0.001)
    # best 0.40 at epoch 3; epoch 2 (0.38) is not within 0.1%; epochs take 2 s: 8 s total, 6 s to epoch 3
    assert (c2.best_epoch, c2.first_epoch, c2.seconds_total, c2.seconds_saved) == (3, 3, 8.0, 2.0)
    assert c2.fraction_saved == 0.25 and c2.relative_loss == 0.0
    c5 = analysis.convergence(by_id["t_00005"], "recall@20", "max", 0.001)
    # best 0.3302 at epoch 3; 0.3300 at epoch 2 is within 0.1% (>= 0.32987): stop at 2, save 1 of 2 s
    assert (c5.first_epoch, c5.value_at_first, c5.seconds_saved, c5.fraction_saved) == (2, 0.33, 1.0, 0.5)
    assert c5.relative_loss == pytest.approx(0.0002 / 0.3302)
    c0 = analysis.convergence(by_id["t_00000"], "recall@20", "max", 0.001)
    assert (c0.first_epoch, c0.seconds_saved) == (4, 0.0)  # 0.349 at epoch 3 is 0.29% below 0.35
    c0_loose = analysis.convergence(by_id["t_00000"], "recall@20", "max", 0.01)
    assert c0_loose.first_epoch == 3


def test_asha_rungs_and_early_stopping_golden(exp) -> None:
    assert analysis.asha_rungs(4, 1, 2) == [1, 2]
    assert analysis.asha_rungs(10, 1, 3) == [1, 3, 9]
    assert analysis.asha_rungs(27, 3, 3) == [3, 9]
    rungs = analysis.early_stopping_by_rung(analysis.trials_table(exp), [1, 2], MAX_EPOCHS)
    # t1 stopped after 1 epoch (saves 3), t4 after 2 (saves 2); 6 trials reached epoch 1, 4 reached epoch 2
    assert rungs.values.tolist() == [[1, 6, 1, 3], [2, 4, 1, 2]]


def test_best_so_far_pareto_and_ci() -> None:
    assert analysis.best_so_far([0.2, None, 0.1, 0.3, math.nan, 0.25], "max") == [0.2, 0.2, 0.2, 0.3, 0.3, 0.3]
    assert analysis.best_so_far([None, 5.0, 6.0, 4.0], "min") == [None, 5.0, 5.0, 4.0]
    # (latency, recall): (1, .30) (2, .35) (2, .34) dominated by (2,.35); (3, .35) dominated; (5, .40) front
    front = analysis.pareto_front([1, 2, 2, 3, 5], [0.30, 0.35, 0.34, 0.35, 0.40])
    assert front == [True, True, False, False, True]
    mean, half = analysis.mean_ci95([0.40, 0.42, 0.44])
    assert mean == pytest.approx(0.42) and half == pytest.approx(4.303 * 0.02 / math.sqrt(3))
    mean_one, half_one = analysis.mean_ci95([0.5])
    assert mean_one == 0.5 and math.isnan(half_one)


def test_t_quantiles_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 29):
        values = [0.0] * df + [1.0]
        n = df + 1
        expected = stats.t.ppf(0.975, df) * stats.tstd(values) / math.sqrt(n)
        assert analysis.mean_ci95(values)[1] == pytest.approx(expected, rel=2e-4)


def test_latency_choice_prefers_best_within_budget(exp) -> None:
    table = analysis.trials_table(exp)
    table["p99_ms"] = [3.0, 1.0, 150.0, math.nan, 1.0, 2.0]  # the best trial (t2) is over a 100 ms budget
    best, within = analysis.latency_choice(table, "recall@20", "max", 100.0)
    assert best["trial_id"] == "t_00002" and within["trial_id"] == "t_00000"
    best, within = analysis.latency_choice(table, "recall@20", "max", 0.5)
    assert best["trial_id"] == "t_00002" and within is None


def test_reader_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    from g4r_tune.report.reader import read_history

    path = tmp_path / "result.json"
    path.write_text('{"epoch": 2, "recall@20": 0.2}\n{"epoch": 1, "recall@20": 0.1}\n{"epoch": 3, "rec')
    assert [r["epoch"] for r in read_history(path)] == [1, 2]
