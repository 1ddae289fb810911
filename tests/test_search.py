"""Search layer: PRUNED semantics of the ASHA-aware searcher (no Ray cluster started), progress counting,
the CLI dry run, and end-to-end runs on a real local Ray (slow)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from _search_util import base_spec

from g4r_tune.cli import main
from g4r_tune.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]


def _searcher(tmp_path: Path, **spec_overrides):
    from g4r_tune.search import _make_searcher

    spec = parse_spec(base_spec(storage=str(tmp_path), **spec_overrides))
    (tmp_path / spec.name).mkdir()
    return spec, _make_searcher(spec, tmp_path / spec.name)


def _load_study(tmp_path: Path, name: str = "t") -> optuna.Study:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / name / "optuna_journal.log")))
    return optuna.load_study(study_name=name, storage=storage)


def test_asha_stopped_trials_are_told_pruned_with_their_last_value(tmp_path: Path) -> None:
    spec, searcher = _searcher(tmp_path)
    for trial_id in ("stopped", "full", "broken"):
        config = searcher.suggest(trial_id)
        assert config["n_sample"] == 16  # fixed values travel in the config
    searcher.on_trial_result("stopped", {"recall@20": 0.31, "training_iteration": 1})
    searcher.on_trial_complete("stopped", {"recall@20": 0.31, "training_iteration": 1})
    for epoch in (1, 2, 3):
        searcher.on_trial_result("full", {"recall@20": 0.1 * epoch, "training_iteration": epoch})
    searcher.on_trial_complete("full", {"recall@20": 0.3, "training_iteration": 3})
    searcher.on_trial_complete("broken", None, error=True)

    trials = _load_study(tmp_path).trials  # read back from the journal file, as optuna-dashboard would
    states = [t.state for t in trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert trials[0].intermediate_values == {1: 0.31} and trials[0].value == pytest.approx(0.31)  # its last step
    assert trials[1].value == pytest.approx(0.3)


def test_warm_start_is_suggested_first(tmp_path: Path) -> None:
    raw = base_spec()
    point = {"loss": "bpr-max", "layers": 16, "learning_rate": 0.05, "bpreg": 1.5}
    _, searcher = _searcher(tmp_path, search={**raw["search"], "warm_start": [point]})
    config = searcher.suggest("first")
    assert {k: config[k] for k in point} == point


def test_progress_counts_from_records() -> None:
    from g4r_tune.search import progress_from_records

    spec = parse_spec(base_spec())

    def rec(trial_id: str, status: str, stopped: bool, epochs: int, best: float | None) -> dict:
        return {"trial_id": trial_id, "status": status, "stopped_early": stopped, "epochs": epochs,
                "metric_best": best, "config": {}}  # fmt: skip

    records = [
        rec("a", "TERMINATED", True, 1, 0.2),
        rec("b", "TERMINATED", False, 3, 0.5),
        rec("c", "ERROR", False, 0, None),
        rec("d", "RUNNING", False, 2, 0.4),
    ]
    snap = progress_from_records(records, spec, elapsed=3.0)
    assert (snap.running, snap.finished, snap.stopped_early, snap.errored) == (1, 2, 1, 1)
    assert snap.epochs_used == 6 and snap.epoch_budget == 12
    assert snap.best_value == 0.5 and snap.best_trial_id == "b"


def test_dry_run_prints_resolved_space_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump(base_spec(storage=str(tmp_path / "runs"))))
    assert main([str(spec_file), "--dry-run", "--num-samples", "5"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate" in out and "float in [0.01, 0.2] (log)" in out and "when loss in ['bpr-max']" in out
    assert "at most 15 epochs (5 x 3)" in out
    assert not (tmp_path / "runs").exists()


def test_bad_spec_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = base_spec()
    raw["space"]["layers"]["low"] = 64
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(yaml.safe_dump(raw))
    assert main(["search", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert "space.layers.low" in err and "Traceback" not in err


# --- end to end on a real local Ray ---------------------------------------------------------------------

TINY = {
    "name": "tiny",
    "data": {"synthetic": {"n_items": 200, "n_sessions": 600, "days": 4, "seed": 3}},
    "fixed": {"n_sample": 32, "batch_size": 32},
    "space": {
        "loss": {"type": "categorical", "choices": ["bpr-max", "cross-entropy"]},
        "layers": {"type": "int", "low": 16, "high": 32, "step": 16},
        "learning_rate": {"type": "float", "low": 0.005, "high": 0.2, "log": True},
        "bpreg": {"type": "float", "low": 0.5, "high": 2.0, "when": {"loss": "bpr-max"}},
    },
    "metric": "recall@20",
    "search": {"num_samples": 6, "max_concurrent": 2, "seed": 11},
    "asha": {"max_epochs": 3, "grace_period": 1, "reduction_factor": 2},
}


@pytest.fixture
def ray_shutdown():
    yield
    import ray

    ray.shutdown()


def _records(folder: Path) -> list[dict]:
    return json.loads((folder / "g4r_trials.json").read_text())


@pytest.mark.slow
def test_end_to_end_search_on_local_ray(tmp_path: Path, ray_shutdown) -> None:
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(TINY))
    start = time.time()
    assert main([str(spec_file), "--storage", str(tmp_path / "runs"), "--replay", "--no-report"]) == 0
    assert time.time() - start < 60
    folder = tmp_path / "runs" / "tiny"
    assert yaml.safe_load((folder / "g4r_spec.yaml").read_text())["name"] == "tiny"
    summary = json.loads((folder / "g4r_search.json").read_text())
    assert summary["status"] == "FINISHED" and summary["max_concurrent"] == 1
    records = _records(folder)
    assert len(records) == 6 and all(r["status"] == "TERMINATED" for r in records)
    for r in records:
        lines = (folder / r["trial_dir"] / "result.json").read_text().splitlines()
        results = [json.loads(line) for line in lines]
        assert [x["epoch"] for x in results] == list(range(1, r["epochs"] + 1))
        assert {"recall@1", "mrr@20", "loss", "epoch_seconds", "node_ip", "node_id"} <= set(results[-1])
        assert r["node_ip"] and r["node_id"]
        checkpoints = sorted((folder / r["trial_dir"]).glob("checkpoint_*"))
        assert 1 <= len(checkpoints) <= 2 and (checkpoints[-1] / "trainer_state.pt").is_file()
        assert (checkpoints[-1] / "model.pt").is_file()
    stopped = sum(r["stopped_early"] for r in records)
    assert 1 <= stopped < 6  # deterministic in replay mode
    states = [t.state.name for t in _load_study(tmp_path / "runs", "tiny").trials]
    assert states.count("PRUNED") == stopped and states.count("COMPLETE") == 6 - stopped


@pytest.mark.slow
def test_killed_driver_resumes_without_losing_finished_trials(tmp_path: Path) -> None:
    spec = {**TINY, "search": {**TINY["search"], "num_samples": 8, "max_concurrent": 1}}
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    folder = tmp_path / "runs" / "tiny"
    cmd = [sys.executable, "-m", "g4r_tune", str(spec_file), "--storage", str(tmp_path / "runs"), "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        finished: list[dict] = []
        while time.time() < deadline and len(finished) < 2:
            time.sleep(0.5)
            try:
                finished = [r for r in _records(folder) if r["status"] == "TERMINATED"]
            except (OSError, ValueError):
                continue
        assert len(finished) >= 2, "the search did not finish two trials in time"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        _kill_group(driver.pid)
    before = {r["trial_id"]: r for r in _records(folder) if r["status"] == "TERMINATED"}
    assert len(before) < 8, "the search finished before it was killed"

    resumed = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = {r["trial_id"]: r for r in _records(folder)}
    assert len(after) == 8 and all(r["status"] == "TERMINATED" for r in after.values())
    for trial_id, record in before.items():  # every finished trial kept, unchanged
        assert after[trial_id]["epochs"] == record["epochs"] and after[trial_id]["config"] == record["config"]
    assert json.loads((folder / "g4r_search.json").read_text())["status"] == "FINISHED"


def _kill_group(pgid: int) -> None:
    """Ray processes the killed driver started (its own session): end them, they are ours."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@pytest.mark.slow
def test_diverging_trial_ends_as_error_and_the_search_goes_on(tmp_path: Path, ray_shutdown) -> None:
    from _search_util import DIVERGE_LR, fake_ray_trainable, ship_this_module_to_ray

    from g4r_tune.search import run_search

    ship_this_module_to_ray()
    raw = base_spec(storage=str(tmp_path))
    raw["space"]["learning_rate"] = {"type": "categorical", "choices": [0.05, DIVERGE_LR]}
    warm = [{"learning_rate": DIVERGE_LR}, {"learning_rate": 0.05}]
    raw["search"] = {**raw["search"], "num_samples": 2, "warm_start": warm}
    outcome = run_search(parse_spec(raw), trainable=fake_ray_trainable)
    records = {r["trial_id"]: r for r in _records(tmp_path / "t")}
    errored = [r for r in records.values() if r["status"] == "ERROR"]
    assert errored and all("training diverged" in r["error"] for r in errored)
    assert all(r["config"]["learning_rate"] == DIVERGE_LR for r in errored)
    assert outcome.n_trials == 2 and outcome.best_value is not None  # the other one ran to the end
    assert all(r["status"] == "TERMINATED" for r in records.values() if r["config"]["learning_rate"] != DIVERGE_LR)
    states = {t.state.name for t in _load_study(tmp_path, "t").trials}
    assert "FAIL" in states


def test_existing_experiment_needs_resume_and_resume_needs_one(tmp_path: Path) -> None:
    from g4r_tune.errors import SearchError
    from g4r_tune.search import run_search

    spec = parse_spec(base_spec(storage=str(tmp_path)))
    with pytest.raises(SearchError, match="nothing to resume"):
        run_search(spec, resume=True)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "tuner.pkl").write_bytes(b"")  # what Tune leaves in an experiment folder
    with pytest.raises(SearchError, match="already exists: continue it with --resume"):
        run_search(spec)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["tuner.pkl"]  # nothing touched
