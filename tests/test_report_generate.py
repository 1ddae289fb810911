"""The whole report on the contract fixture: files, sections, tuned YAML round trip, CLI, comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _report_util import TRIALS, build_experiment

from g4r_tune.cli import main
from g4r_tune.report import generate_report
from g4r_tune.retrain import run_final_check_serial

SECTIONS = (
    "## Summary",
    "## Top 3 configurations",
    "## Latency budget",
    "## Convergence and early stopping",
    "## Early stopping (ASHA)",
    "## Search insight",
    "## Trials that errored",
    "## Final check on held-out data",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    exp = build_experiment(root)
    return root, exp


@pytest.fixture(scope="module")
def report(built: tuple[Path, Path]):
    root, exp = built
    # the spec names train_full/test: the final check retrains for real (serially here; Ray in the slow test)
    spec = exp / "g4r_spec.yaml"
    text = spec.read_text().replace(
        "  valid:",
        f"  train_full: {root}/data/fixture/fixture_train_full.tsv\n"
        f"  test: {root}/data/fixture/fixture_test.tsv\n  valid:",
    )
    spec.write_text(text)
    result = generate_report(
        [exp], root / "out", top_k=3, latency_requests=300, final_seeds=2, final_runner=run_final_check_serial
    )
    return result


def test_report_files_and_every_section(report) -> None:
    md = report.markdown.read_text()
    for heading in SECTIONS:
        assert heading in md, heading
    html = report.html.read_text()
    assert html.count("data:image/png;base64,") == len(report.plots) == 5
    assert "<script" not in html and "http" not in html.split("<body>")[1].split("data:image")[0]
    names = sorted(p.name for p in (report.out_dir / "plots").iterdir())
    assert names == ["best_so_far.png", "convergence.png", "importance.png", "latency.png", "params.png"]
    assert "TrainingDiverged: training diverged: loss is nan" in md  # the errored trial with its reason
    assert "16 epochs trained vs 24 for the full grid" in md
    assert "**Recommendation:** trial `t_00002` (`tuned/1.yaml`); trained for 3 epoch(s)" in md
    assert "held-out test Recall@20 " in md.split("**Recommendation:**")[1].split("\n")[0]


def test_top_table_golden_with_latency(report) -> None:
    md = report.markdown.read_text()
    top = md.split("## Top 3 configurations")[1].split("##")[0]
    rows = [line for line in top.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[1] for r in rows] == ["t_00002", "t_00000", "t_00005"]
    cells = rows[0].strip("| ").split(" | ")
    # rank, trial, layers, lr, momentum, R@1, R@5, R@10, R@20, M@1, M@5, M@10, M@20, epoch, s/epoch, 4 x latency
    assert cells[:15] == [
        "1",
        "t_00002",
        "64",
        "0.0800",
        "0.3000",
        "0.1000",
        "0.2400",
        "0.3200",
        "0.4000",
        "0.0400",
        "0.0960",
        "0.1280",
        "0.1600",
        "3",
        "2.0000",
    ]
    latency = [float(c) for c in cells[15:19]]
    assert 0 < latency[0] <= latency[1] <= latency[2] <= latency[3]


def test_trials_csv(report) -> None:
    table = pd.read_csv(report.trials_csv)
    assert len(table) == len(TRIALS)
    assert set(table.columns) >= {
        "trial_id",
        "status",
        "recall@20",
        "mrr@20",
        "best_epoch",
        "p99_ms",
        "config.layers",
        "experiment",
    }
    assert table.set_index("trial_id").loc["t_00003", "error"].startswith("TrainingDiverged")


def test_final_check_table(report) -> None:
    md = report.markdown.read_text()
    final = md.split("## Final check on held-out data")[1]
    rows = [line for line in final.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2
    cells = rows[0].strip("| ").split(" | ")
    assert cells[1] == "t_00002" and cells[2] == "3" and cells[6] == "2"  # best epoch count, 2 seeds
    mean, half = (float(x) for x in cells[4].split(" ± "))
    assert 0.0 <= mean <= 1.0 and half >= 0.0


def test_tuned_yaml_round_trips_through_train_config(report, built, tmp_path: Path) -> None:
    root, _ = built
    assert [p.name for p in report.tuned] == ["1.yaml", "2.yaml", "3.yaml"]
    out = tmp_path / "train.json"
    code = main(
        [
            "train",
            str(root / "data/fixture/fixture_train_tr.tsv"),
            "--config",
            str(report.tuned[0]),
            "--json",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert code == 0
    trained = json.loads(out.read_text())["params"]
    status, early, layers, lr, mom, recalls, _ = TRIALS["t_00002"]
    from _report_util import config_of

    expected = {**config_of(layers, lr, mom), "n_epochs": 3}  # the trial's config at its best epoch
    assert trained == expected
    assert len(json.loads(out.read_text())["epochs"]) == 3
    md = report.markdown.read_text()
    assert "loss=bpr-max,layers=64,batch_size=16,n_epochs=3,learning_rate=0.08" in md  # reference param string


def test_cli_report_over_two_experiments_has_the_comparison(built, tmp_path: Path) -> None:
    root, exp = built
    other = build_experiment(tmp_path, name="fixture_top1", with_checkpoints=False, data_name="other")
    records = json.loads((other / "g4r_trials.json").read_text())
    for rec in records:
        rec["config"]["loss"] = "top1"
    (other / "g4r_trials.json").write_text(json.dumps(records))
    out = tmp_path / "cmp"
    code = main(
        ["report", str(exp), str(other), "--out", str(out), "--top-k", "2", "--latency-requests", "100", "--no-final"]
    )
    assert code == 0
    md = (out / "report.md").read_text()
    comparison = md.split("## Comparison: dataset x loss")[1].split("\n## ")[0]
    rows = [
        line.strip("| ").split(" | ")
        for line in comparison.splitlines()
        if line.startswith("| fixture") or line.startswith("| other")
    ]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("fixture", "bpr-max", "fixture_bprmax", "0.4000"),
        ("other", "top1", "fixture_top1", "0.4000"),
    ]
    assert (out / "tuned" / "fixture_top1" / "2.yaml").is_file()
    assert "## fixture_top1: Latency budget" in md


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["report", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "g4r_trials.json" in err and "Traceback" not in err
    assert not out.exists()  # nothing written for an unreadable experiment
    assert main(["report", str(tmp_path), "--top-k", "0", "--out", str(out)]) in (1, 2)
