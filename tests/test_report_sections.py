"""Section texts that depend on measured latency, with the latency figures set by hand (golden wording)."""

from __future__ import annotations

import math

import pytest
from _report_util import build_experiment

from g4r_tune.report import analysis, sections
from g4r_tune.report.facts import Facts
from g4r_tune.report.reader import read_experiment
from g4r_tune.report.render import Para


@pytest.fixture(scope="module")
def exp(tmp_path_factory: pytest.TempPathFactory):
    return read_experiment(build_experiment(tmp_path_factory.mktemp("s"), with_checkpoints=False))


def facts_with_p99(exp, p99: list[float], budget: float) -> Facts:
    table = analysis.trials_table(exp)
    for col in ("p50_ms", "p95_ms", "p999_ms"):
        table[col] = math.nan
    table["p99_ms"] = p99
    ranked = analysis.rank_trials(table, "recall@20", "max")
    f = Facts(
        exp=exp,
        label="",
        table=table,
        ranked=ranked,
        budget=analysis.budget(exp, table),
        top_k=3,
        p99_budget_ms=budget,
        tolerance=0.001,
    )
    f.latency_env = {"n_items": 97, "n_requests": 100, "device": "cpu", "threads": 1, "torch_version": "x"}
    return f


def texts(blocks) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, Para))


def test_best_over_budget_recommends_the_best_smaller_config(exp) -> None:
    # trials t0..t5; the best (t2, layers 64) takes 150 ms, t0 (layers 32, 0.35) 3 ms
    text = texts(sections.latency_budget(facts_with_p99(exp, [3.0, 1.0, 150.0, math.nan, 1.0, 2.0], 100.0)))
    assert "has p99 150.000 ms, **over the 100 ms budget**" in text
    assert "Recommended smaller alternative: `t_00000` (layers=32" in text and "-12.5% vs best" in text


def test_best_within_budget_is_served_and_a_cheaper_near_best_is_named(exp) -> None:
    text = texts(sections.latency_budget(facts_with_p99(exp, [3.0, 1.0, 50.0, math.nan, 1.0, 2.0], 100.0)))
    assert "**Serve the best configuration** (`t_00002`, Recall@20 0.4000): p99 50.000 ms" in text
    assert "Smaller fallback" not in text  # nothing else is within 1% of 0.40
    exp_table = facts_with_p99(exp, [3.0, 1.0, 50.0, math.nan, 1.0, 2.0], 100.0)
    exp_table.table.loc[exp_table.table["trial_id"] == "t_00005", "recall@20"] = 0.3990
    text = texts(sections.latency_budget(exp_table))
    assert "Smaller fallback within 1% of the best Recall@20: `t_00005`" in text and "p99 2.000 ms vs 50.000 ms" in text


def test_nothing_within_budget_says_so(exp) -> None:
    text = texts(sections.latency_budget(facts_with_p99(exp, [3.0, 1.0, 5.0, math.nan, 1.0, 2.0], 0.5)))
    assert "No measured configuration meets the 0.5 ms p99 budget; the fastest has p99 1.000 ms" in text
