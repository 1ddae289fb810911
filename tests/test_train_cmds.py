"""`g4r-tune train` / `g4r-tune eval` called in-process on small generated TSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from g4r_tune.cli import main
from tests._evaluate_util import write_click_tsv

SMALL = "loss=cross-entropy,layers=16,batch_size=16,n_sample=32,learning_rate=0.1,n_epochs=2"


def _exit_code(argv: list[str]) -> int:
    """main()'s return value, or the code of argparse's SystemExit for usage errors."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def _one_line(text: str) -> str:
    """Rich wraps long messages at the terminal width; compare without the wrapping."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tsvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clicks")
    train, test = folder / "train.tsv", folder / "test.tsv"
    write_click_tsv(train, n_sessions=300, n_items=40, seed=1)
    write_click_tsv(test, n_sessions=25, n_items=45, seed=2)  # items 40..44 are unknown to the model
    return train, test


def test_train_prints_epochs_and_metrics_and_writes_json(tsvs, tmp_path: Path, capsys) -> None:
    train, test = tsvs
    out = tmp_path / "run.json"
    code = main(["train", str(train), "-t", str(test), "-ps", SMALL, "-m", "5", "20", "--eval-every-epoch",
                 "--json", str(out), "--threads", "1"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "epoch   1/2" in printed and "epoch   2/2" in printed and "events/s" in printed
    assert "Recall@K" in printed and "predictions" in printed
    report = json.loads(out.read_text())
    assert report["status"] == "finished" and report["params"]["layers"] == [16]
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert set(report["epochs"][0]["eval"][str(test)]) == {"recall@5", "recall@20", "mrr@5", "mrr@20"}
    (result,) = report["results"]
    assert result["test"] == str(test) and result["ties"] == "conservative"
    assert (
        result["n_predictions"] > 0 and result["n_dropped_unknown"] == report["tests"][str(test)]["n_dropped_unknown"]
    )
    assert 0.0 <= result["metrics"]["mrr@20"] <= result["metrics"]["recall@20"] <= 1.0
    assert result["metrics"] == report["epochs"][-1]["eval"][str(test)]  # final eval = last epoch's eval


def test_saved_model_evaluates_to_the_same_numbers(tsvs, tmp_path: Path) -> None:
    train, test = tsvs
    model, first, second = tmp_path / "model", tmp_path / "a.json", tmp_path / "b.json"
    assert main(["train", str(train), "--test", str(test), "--params", SMALL, "--epochs", "1", "--save", str(model),
                 "--ties", "median", "--json", str(first)]) == 0  # fmt: skip
    assert main(["eval", str(model), str(test), "--ties", "median", "--json", str(second)]) == 0
    trained, evaluated = json.loads(first.read_text()), json.loads(second.read_text())
    assert trained["saved"] == str(model) and len(trained["epochs"]) == 1
    assert evaluated["results"][0]["metrics"] == trained["results"][0]["metrics"]
    assert evaluated["results"][0]["n_dropped_unknown"] == trained["results"][0]["n_dropped_unknown"] > 0


def test_tuned_yaml_config(tsvs, tmp_path: Path, capsys) -> None:
    from g4r_tune.config import Hyperparams
    from g4r_tune.tuned import write_tuned_config

    train, _ = tsvs
    config = write_tuned_config(tmp_path / "tuned.yaml", Hyperparams.from_param_string(SMALL), name="x")
    out = tmp_path / "r.json"
    assert main(["train", str(train), "--config", str(config), "--epochs", "1", "--json", str(out)]) == 0
    assert (
        json.loads(out.read_text())["param_string"]
        == Hyperparams.from_param_string(SMALL).replace(n_epochs=1).to_param_string()
    )


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["-ps", "loss=bpr-max,layerz=3"], 2, "valid names are"),
        (["-ps", "loss=nope"], 2, "loss"),
        (["-ps", SMALL, "--ties", "optimistic"], 2, "invalid choice"),
        (["-ps", SMALL, "--epochs", "0"], 2, "n_epochs"),
        (["-ps", SMALL, "-m", "0"], 2, "cutoffs"),
        (["-ps", SMALL, "--eval-every-epoch"], 2, "--eval-every-epoch needs"),
        (["-ps", SMALL, "--config", "x.yaml"], 2, "not allowed with"),
        ([], 2, "required"),
        (["-ps", SMALL, "-t", "missing.tsv"], 1, "missing.tsv: file not found"),
        (["--config", "missing.yaml"], 2, "not found"),
    ],
)
def test_errors_exit_with_one_clear_line(tsvs, extra: list[str], code: int, message: str, capsys) -> None:
    train, _ = tsvs
    assert _exit_code(["train", str(train), *extra]) == code
    err = capsys.readouterr().err
    assert message in _one_line(err) and "Traceback" not in err


def test_missing_train_file_and_missing_model(tmp_path: Path, tsvs, capsys) -> None:
    _, test = tsvs
    assert main(["train", str(tmp_path / "none.tsv"), "-ps", SMALL]) == 1
    assert "none.tsv: file not found" in _one_line(capsys.readouterr().err)
    assert main(["eval", str(tmp_path / "nomodel"), str(test)]) == 1
    assert "no such checkpoint" in _one_line(capsys.readouterr().err)


def test_diverged_training_exits_1_and_keeps_the_json(tsvs, tmp_path: Path, capsys) -> None:
    train, _ = tsvs
    out = tmp_path / "div.json"
    params = SMALL.replace("learning_rate=0.1", "learning_rate=1e38")  # float32 overflow at step 2
    assert main(["train", str(train), "-ps", params, "--json", str(out)]) == 1
    assert "training diverged" in _one_line(capsys.readouterr().err)
    report = json.loads(out.read_text())
    assert report["status"] == "diverged" and "epoch 1" in report["error"]


def test_test_file_without_known_items_fails_before_training(tsvs, tmp_path: Path, capsys) -> None:
    train, _ = tsvs
    unknown = tmp_path / "unknown.tsv"
    write_click_tsv(unknown, n_sessions=5, n_items=10, seed=3, item_offset=99_000)
    assert main(["train", str(train), "-ps", SMALL, "-t", str(unknown)]) == 1
    captured = capsys.readouterr()
    assert "nothing to evaluate" in _one_line(captured.err) and "epoch" not in captured.out


@pytest.mark.slow
def test_real_test_split_smaller_than_the_eval_batch(shared_data: Path, tmp_path: Path) -> None:
    """serenade_toy's test split has 478 sessions (< 512 lanes, where the reference crashes); beat popularity."""
    import numpy as np

    from g4r_tune.data.loader import load_sessions

    folder = shared_data / "serenade_toy"
    train, test = folder / "serenade_toy_train_full.tsv", folder / "serenade_toy_test.tsv"
    out = tmp_path / "real.json"
    params = "loss=cross-entropy,layers=64,batch_size=128,n_sample=512,n_epochs=1"
    assert main(["train", str(train), "-t", str(test), "-ps", params, "-m", "20", "--json", str(out)]) == 0
    (result,) = json.loads(out.read_text())["results"]
    train_data = load_sessions(train).data
    test_data = load_sessions(test, train_data.item_index).data
    assert result["n_predictions"] == test_data.n_predictions
    popular = np.argsort(-train_data.item_support(), kind="stable")[:20]
    is_target = np.ones(test_data.n_events, dtype=bool)
    is_target[test_data.offsets[:-1]] = False  # every event but each session's first is a target
    popularity_recall = np.isin(test_data.items[is_target], popular).mean()
    assert result["metrics"]["recall@20"] > 3 * popularity_recall
