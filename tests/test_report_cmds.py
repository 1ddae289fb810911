"""`g4r-tune latency` in-process: the JSON it writes, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from g4r_tune.checkpoint import save_checkpoint
from g4r_tune.cli import main
from g4r_tune.config import Hyperparams
from g4r_tune.data.loader import load_sessions
from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits
from g4r_tune.model import GRU4Rec


@pytest.fixture(scope="module")
def model_and_test(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lat")
    splits = write_synthetic_splits(root, SynthConfig(n_items=100, n_sessions=300, days=4, seed=2))
    index = load_sessions(splits.train_full).data.item_index
    params = Hyperparams(loss="bpr-max", layers=(24,))
    folder = save_checkpoint(root / "model", GRU4Rec(params, len(index)), params, index)
    return folder, Path(splits.test)


def test_latency_cli_writes_both_variants(model_and_test, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, test = model_and_test
    out = tmp_path / "lat.json"
    code = main(["latency", str(model), "--test", str(test), "--requests", "300", "--warmup", "20", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert [r["variant"] for r in payload["results"]] == ["stateful", "stateless"]
    for r in payload["results"]:
        assert r["n_requests"] == 300 and r["threads"] == 1 and r["top_n"] == 20
        assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["p999_ms"] <= r["max_ms"]
        assert r["torch_version"] and r["device"].startswith("cpu")
    printed = capsys.readouterr().out
    assert "p99 ms" in printed and "stateless" in printed


def test_latency_cli_float16_and_no_stateless(model_and_test, tmp_path: Path) -> None:
    model, test = model_and_test
    out = tmp_path / "lat16.json"
    argv = [
        "latency",
        str(model),
        "--test",
        str(test),
        "--requests",
        "100",
        "--precision",
        "float16",
        "--no-stateless",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    results = json.loads(out.read_text())["results"]
    assert len(results) == 1 and results[0]["precision"] == "float16"


def test_latency_cli_errors_are_one_line(model_and_test, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, test = model_and_test
    assert main(["latency", str(tmp_path / "nope"), "--test", str(test)]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err
    model, _ = model_and_test
    assert main(["latency", str(model), "--test", str(test), "--requests", "0"]) == 2
