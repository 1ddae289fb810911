"""The final check on held-out data (the authors' protocol): retrain configs on train_full with several seeds as
Ray tasks in parallel, evaluate each on test. Trainable layer: it may import ray; the report layer only calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from g4r_tune.config import EvalConfig, Hyperparams, RuntimeConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import DataError, G4RTuneError, SearchError


@dataclass(frozen=True)
class SeedRun:
    seed: int
    metrics: dict[str, float]  # recall@K / mrr@K on test
    train_seconds: float
    epochs: int


@dataclass(frozen=True)
class FinalCheck:
    """One config's retrain results over seeds (or why it failed)."""

    params: Hyperparams
    runs: list[SeedRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        return [r.metrics[metric] for r in self.runs if metric in r.metrics]


def retrain_and_evaluate(
    params: Hyperparams,
    train: SessionData,
    test: SessionData,
    seed: int,
    *,
    threads: int = 1,
    n_dropped_unknown: int = 0,
    eval_config: EvalConfig | None = None,
) -> SeedRun:
    """Train ``params`` (its ``n_epochs``) on ``train`` with ``seed`` and evaluate on ``test``. Ray-free."""
    from g4r_tune.evaluate import evaluate
    from g4r_tune.train import Trainer

    start = time.perf_counter()
    trainer = Trainer(params, train, RuntimeConfig(device="cpu", threads=threads, seed=seed))
    trainer.fit()
    seconds = time.perf_counter() - start
    result = evaluate(trainer.model, test, eval_config or EvalConfig(), n_dropped_unknown=n_dropped_unknown)
    metrics = {f"recall@{k}": float(v) for k, v in result.recall.items()}
    metrics |= {f"mrr@{k}": float(v) for k, v in result.mrr.items()}
    return SeedRun(seed=seed, metrics=metrics, train_seconds=seconds, epochs=trainer.epoch)


def load_split(train_path: Path, test_path: Path) -> tuple[SessionData, SessionData, int]:
    """train_full (builds the item index) and test encoded with it; test items unknown to train are dropped."""
    from g4r_tune.data.loader import load_sessions

    train = load_sessions(train_path).data
    loaded = load_sessions(test_path, train.item_index)
    if loaded.data.n_events == 0:
        raise DataError(f"{test_path}: no test clicks left after dropping items unknown to {train_path.name}")
    return train, loaded.data, loaded.n_dropped_unknown


def run_final_check(
    configs: Sequence[Hyperparams],
    train_path: Path,
    test_path: Path,
    seeds: Sequence[int],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[FinalCheck]:
    """Every (config, seed) pair as one Ray task (1 CPU, 1 thread); the data goes to the object store once.

    Uses the running Ray instance if there is one, else starts a local one (or connects to ``address``)
    and shuts it down afterwards. A failing task is recorded in its config's ``errors``; the others go on.
    """
    import ray

    train, test, dropped = load_split(train_path, test_path)
    started = False
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                num_cpus=None if address else num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as err:  # noqa: BLE001 - Ray raises many kinds; the report records one line
            raise SearchError(f"final check: could not start or reach Ray: {_first_line(err)}") from None
        started = True
    try:
        try:
            train_ref, test_ref = ray.put(train), ray.put(test)
        except Exception as err:  # noqa: BLE001 - e.g. object store full
            raise SearchError(f"final check: could not ship the data to Ray: {_first_line(err)}") from None
        task = ray.remote(num_cpus=1, max_retries=0)(_task)
        pending: dict[Any, int] = {}
        for i, params in enumerate(configs):
            for seed in seeds:
                pending[task.remote(params.to_dict(), train_ref, test_ref, int(seed), dropped)] = i
        results = [FinalCheck(params) for params in configs]
        total, done = len(pending), 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            try:
                results[index].runs.append(ray.get(ready[0]))
            except Exception as err:  # noqa: BLE001 - one failed retrain must not lose the others
                results[index].errors.append(_first_line(err))
            done += 1
            if progress is not None:
                progress(f"final check: {done}/{total} retrains done")
        for r in results:
            r.runs.sort(key=lambda run: run.seed)
        return results
    except ray.exceptions.RaySystemError as err:
        raise SearchError(f"final check could not run on Ray: {err}") from None
    finally:
        if started:
            ray.shutdown()


def run_final_check_serial(
    configs: Sequence[Hyperparams],
    train_path: Path,
    test_path: Path,
    seeds: Sequence[int],
    *,
    progress: Callable[[str], None] | None = None,
) -> list[FinalCheck]:
    """The same check one retrain after another in this process (no Ray): for small data and tests."""
    train, test, dropped = load_split(train_path, test_path)
    results = []
    for i, params in enumerate(configs):
        check = FinalCheck(params)
        for seed in seeds:
            try:
                check.runs.append(retrain_and_evaluate(params, train, test, int(seed), n_dropped_unknown=dropped))
            except G4RTuneError as err:
                check.errors.append(f"seed {seed}: {err}")
        if progress is not None:
            progress(f"final check: config {i + 1}/{len(configs)} done")
        results.append(check)
    return results


def _task(params: dict[str, Any], train: SessionData, test: SessionData, seed: int, dropped: int) -> SeedRun:
    return retrain_and_evaluate(Hyperparams.from_mapping(params), train, test, seed, n_dropped_unknown=dropped)


def _first_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"
