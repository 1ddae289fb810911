"""`g4r-tune data ...` in-process: what it writes, what it prints, and its exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from g4r_tune.cli import main

SYNTH_ARGS = ["--items", "200", "--sessions", "600", "--days", "4", "--seed", "1"]


def test_synth_then_stats_like_the_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo_data"
    assert main(["data", "synth", str(out), *SYNTH_ARGS]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "synth_summary.json",
        "synth_test.tsv",
        "synth_train_full.tsv",
        "synth_train_tr.tsv",
        "synth_train_valid.tsv",
    ]
    summary = json.loads((out / "synth_summary.json").read_text())
    train = out / "synth_train_full.tsv"
    assert main(["data", "stats", str(train), str(out / "synth_test.tsv"), "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "dataset statistics" in printed and f"{summary['splits']['train_full']['events']:,}" in printed
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["files"][0]["events"] == len(pd.read_csv(train, sep="\t"))
    assert stats["item_overlap"][0]["new_items"] == 0  # test items are restricted to train_full


def test_stats_plot_writes_a_png(tmp_path: Path) -> None:
    assert main(["data", "synth", str(tmp_path), *SYNTH_ARGS]) == 0
    plot = tmp_path / "plots" / "dist.png"
    assert main(["data", "stats", str(tmp_path / "synth_train_full.tsv"), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_subset_with_custom_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "clicks.csv"
    pd.DataFrame({"s": [1, 1, 2, 2], "i": ["a", "b", "a", "c"], "t": [0, 1, 5, 6]}).to_csv(source, index=False)
    args = ["data", "subset", str(source), str(tmp_path / "o.tsv"), "--fraction", "0.5"]
    assert main([*args, "--session-col", "s", "--item-col", "i", "--time-col", "t"]) == 0
    assert "kept 1 of 2 sessions" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "o.tsv", sep="\t")["ItemId"].tolist() == ["a", "c"]


def test_prepare_yoochoose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_prepare import YC_LINES

    raw = tmp_path / "clicks.dat"
    raw.write_text(YC_LINES)
    args = ["data", "prepare", "yoochoose", str(raw), str(tmp_path / "o"), "--min-item-support", "2"]
    assert main([*args, "--valid-days", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "removed 2 events with items unseen in train_full" in printed
    assert (tmp_path / "o" / "yoochoose_train_valid.tsv").is_file()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["data", "stats", "{tmp}/missing.tsv"], 1, "missing.tsv: file not found"),
        (["data", "stats", "{tmp}/bad.tsv"], 1, "line 3, column 'Time': time 'x' is not a number"),
        (["data", "synth", "{tmp}/o", "--items", "5"], 2, "`n_items` is 5, but must be an integer >= 80"),
        (["data", "subset", "{tmp}/bad.tsv", "{tmp}/o.tsv", "--fraction", "2"], 2, "`fraction` is 2.0"),
        (["data", "subset", "{tmp}/bad.tsv", "{tmp}/o.tsv"], 2, "the following arguments are required: --fraction"),
        (["data", "prepare", "retailrocket", "{tmp}/bad.tsv", "{tmp}/o", "--session-gap", "soon"], 2, "session_gap"),
        (["data", "prepare", "movielens", "{tmp}/bad.tsv", "{tmp}/o"], 2, "invalid choice: 'movielens'"),
        (["data", "prepare", "retailrocket", "{tmp}/bad.tsv", "{tmp}/o"], 1, "missing column 'timestamp'"),
        (["data"], 2, "usage: g4r-tune data"),
    ],
)
def test_errors_are_one_line_with_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    (tmp_path / "bad.tsv").write_text("SessionId\tItemId\tTime\n1\t2\t3\n1\t3\tx\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        result = main(argv)
    except SystemExit as exc:  # argparse usage errors
        result = exc.code
    captured = capsys.readouterr()
    assert result == code
    text = " ".join((captured.err + captured.out).split())
    assert message in text
    assert "Traceback" not in text


def test_verbose_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v", "data", "stats", str(tmp_path / "nope.tsv")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_session_gap_durations() -> None:
    from g4r_tune.cli.data_cmds import parse_duration

    assert [parse_duration(t) for t in ("3600", "30m", "1.5h", "1d", "90s")] == [3600, 1800, 5400, 86400, 90]


def test_data_stats_matches_the_serenade_toy_counts(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "serenade_toy" / "serenade_toy_train_full.tsv"
    assert main(["data", "stats", os.fspath(path)]) == 0
    printed = capsys.readouterr().out
    for count in ("83,715", "17,584", "8,676"):
        assert count in printed
