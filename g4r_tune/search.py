"""The search: Ray Tune + Optuna TPE (define-by-run, ASHA-aware PRUNED) + ASHA, resume, experiment files, progress.

``run_search(spec)`` is the one entry point; it never prints. Progress goes to an optional callback as
``SearchProgress`` snapshots; Ray's own logs go to ``<experiment>/g4r_driver.log`` and Ray's session log folder.
"""

from __future__ import annotations

import os

# Ray reads these at import / init time: keep its console output and telemetry off before importing it.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import optuna  # noqa: E402
import ray  # noqa: E402
import yaml  # noqa: E402
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from g4r_tune.cluster import check_reachable  # noqa: E402
from g4r_tune.errors import G4RTuneError, SearchError  # noqa: E402
from g4r_tune.space import DefineByRun, optuna_final_state  # noqa: E402
from g4r_tune.spec import SearchSpec, parse_spec  # noqa: E402
from g4r_tune.trainable import TrialData, hyperparams_from_config, ray_trainable  # noqa: E402

SPEC_FILE, SUMMARY_FILE, TRIALS_FILE = "g4r_spec.yaml", "g4r_search.json", "g4r_trials.json"
JOURNAL_FILE, DRIVER_LOG = "optuna_journal.log", "g4r_driver.log"
CHECKPOINTS_TO_KEEP = 2
MAX_FAILURES = 2  # a trial on a lost node restarts (from its last checkpoint) up to this many times

# loggers that Ray writes to while ray.init has reset the "ray" logger's handlers
_NOISY_RAY_LOGGERS = ("ray._private.authentication.authentication_token_setup", "ray._private.worker")
# progress sinks by experiment folder: Tune pickles callbacks with the experiment, a live view cannot be pickled
_FILE_HANDLERS: dict[str, logging.FileHandler] = {}
_PROGRESS_SINKS: dict[str, Callable[[SearchProgress], None]] = {}


@dataclasses.dataclass(frozen=True)
class SearchProgress:
    """A snapshot for the live view."""

    total: int
    running: int
    finished: int
    stopped_early: int
    errored: int
    epochs_used: int
    epoch_budget: int
    elapsed_s: float
    metric: str
    best_value: float | None = None
    best_trial_id: str | None = None
    best_config: dict[str, Any] | None = None
    event: str = ""


@dataclasses.dataclass(frozen=True)
class SearchOutcome:
    experiment_dir: Path
    metric: str
    best_value: float | None
    best_trial_id: str | None
    best_config: dict[str, Any] | None
    n_trials: int
    n_errored: int
    n_stopped_early: int
    epochs_used: int
    epoch_budget: int
    wall_seconds: float
    complete: bool = True  # every trial ended (False after an interruption: continue with --resume)


class AshaAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that tells Optuna PRUNED (not COMPLETE) for trials ASHA stopped before ``max_epochs``.

    The last intermediate value was already reported in ``on_trial_result``; TPE ranks pruned trials by it.
    """

    def __init__(self, *args: Any, max_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_epochs = max_epochs

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        state = optuna_final_state(result, self._max_epochs, error)
        if state != "PRUNED" or trial_id in self._completed_trials or trial_id not in self._ot_trials:
            super().on_trial_complete(trial_id, result, error)
            return
        try:
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        except Exception as exc:  # e.g. already told after a restore; never take the search down for it
            logging.getLogger(__name__).warning("could not tell Optuna that %s was pruned: %s", trial_id, exc)
        self._completed_trials.add(trial_id)


class ExperimentRecorder(tune.Callback):
    """Rewrites ``g4r_trials.json`` whenever a trial starts, reports, finishes or errors (a crash loses nothing
    finished), writes ``g4r_search.json``, and sends ``SearchProgress`` snapshots to the registered sink."""

    def __init__(self, spec: SearchSpec, experiment_dir: Path) -> None:
        self.spec = spec
        self.experiment_dir = Path(experiment_dir)
        self.started = time.time()
        self.restarts: dict[str, int] = {}
        self.errors: dict[str, str] = {}

    def _emit(self, trials: list[Any], event: str) -> None:
        records = self._write_trials(trials)
        sink = _PROGRESS_SINKS.get(str(self.experiment_dir))
        if sink is not None:
            sink(progress_from_records(records, self.spec, time.time() - self.started, event))

    def _write_trials(self, trials: list[Any]) -> list[dict[str, Any]]:
        records = [self._record(t) for t in trials]
        _write_json(self.experiment_dir / TRIALS_FILE, records)
        return records

    def _record(self, trial: Any) -> dict[str, Any]:
        last = trial.last_result or {}
        epochs = int(last.get("training_iteration", 0) or 0)
        status = str(trial.status)
        try:
            config = hyperparams_from_config(trial.config, self.spec.asha.max_epochs).to_dict()
        except G4RTuneError:
            config = dict(trial.config)
        best = (trial.metric_analysis or {}).get(self.spec.metric, {}).get("max")
        trial_path = getattr(trial, "path", None) or ""
        return {
            "trial_id": trial.trial_id,
            "status": status if status in ("TERMINATED", "ERROR", "RUNNING", "PENDING") else "PENDING",
            "stopped_early": status == "TERMINATED" and epochs < self.spec.asha.max_epochs,
            "epochs": epochs,
            "config": config,
            "error": self.errors.get(trial.trial_id) if status == "ERROR" else None,
            "node_ip": last.get("node_ip"),
            "node_id": last.get("node_id"),
            "trial_dir": os.path.relpath(trial_path, self.experiment_dir) if trial_path else None,
            "metric_last": last.get(self.spec.metric),
            "metric_best": best,
            "restarts": self.restarts.get(trial.trial_id, 0),
        }

    def setup(self, **info: Any) -> None:
        self.started = time.time()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._emit(trials, f"started {trial.trial_id}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._emit(trials, f"{trial.trial_id} epoch {result.get('training_iteration')}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._emit(trials, f"finished {trial.trial_id}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.restarts[trial.trial_id] = self.restarts.get(trial.trial_id, 0) + 1
        self._emit(trials, f"restarting {trial.trial_id} from its last checkpoint")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errors[trial.trial_id] = _error_reason(trial)
        self._emit(trials, f"error in {trial.trial_id}: {self.errors[trial.trial_id]}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._emit(trials, "search finished")


def _error_reason(trial: Any) -> str:
    """The exception's own line (e.g. ``TrainingDiverged: training diverged: loss is nan ...``)."""
    path = getattr(trial, "error_file", None)
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":", 1)[0] or "Diverged" in line.split(":", 1)[0]:
            return line
    return lines[-1] if lines else "unknown error (see the trial's error.txt)"


def progress_from_records(records: list[dict], spec: SearchSpec, elapsed: float, event: str = "") -> SearchProgress:
    """Counts and best-so-far from the trial records (pure)."""
    best = max((r for r in records if r.get("metric_best") is not None), key=lambda r: r["metric_best"], default=None)
    finished = [r for r in records if r["status"] == "TERMINATED"]
    return SearchProgress(
        total=spec.search.num_samples,
        running=sum(r["status"] == "RUNNING" for r in records),
        finished=len(finished),
        stopped_early=sum(bool(r["stopped_early"]) for r in finished),
        errored=sum(r["status"] == "ERROR" for r in records),
        epochs_used=sum(int(r["epochs"]) for r in records),
        epoch_budget=spec.epoch_budget,
        elapsed_s=elapsed,
        metric=spec.metric,
        best_value=None if best is None else float(best["metric_best"]),
        best_trial_id=None if best is None else best["trial_id"],
        best_config=None if best is None else best["config"],
        event=event,
    )


def _write_json(path: Path, payload: Any) -> None:
    """Atomic rewrite: a reader (or a crash) never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


# --- data ---------------------------------------------------------------------------------------------


def prepare_data(spec: SearchSpec, experiment_dir: Path) -> tuple[TrialData, dict[str, str]]:
    """Load (or generate) train/valid once in the driver; Ray ships them to the object store once."""
    from g4r_tune.data.loader import load_sessions

    files = {k: getattr(spec.data, k) for k in ("train", "valid", "train_full", "test")}
    if spec.data.synthetic is not None:
        from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits

        split = write_synthetic_splits(
            experiment_dir / "data", SynthConfig(**dataclasses.asdict(spec.data.synthetic)), name="synth"
        )
        files = {
            "train": Path(split.train_tr),
            "valid": Path(split.train_valid),
            "train_full": Path(split.train_full),
            "test": Path(split.test),
        }
    train = load_sessions(files["train"])
    valid = load_sessions(files["valid"], item_index=train.data.item_index)
    data = TrialData(
        train=train.data,
        valid=valid.data,
        max_epochs=spec.asha.max_epochs,
        threads=max(1, int(spec.resources.cpus_per_trial)),
        seed=spec.search.seed,
        device="cuda" if spec.resources.gpus_per_trial > 0 else "cpu",
        valid_dropped_unknown=valid.n_dropped_unknown,
    )
    return data, {k: str(v) for k, v in files.items() if v is not None}


# --- running ------------------------------------------------------------------------------------------


def _connect_ray(spec: SearchSpec, experiment_dir: Path) -> None:
    """Connect to ``ray.address`` when one is given (never starting a local Ray instead), else start a local one."""
    _quiet_logs(experiment_dir)
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False, "include_dashboard": False}
    try:
        if spec.ray.address:
            ray.init(address=spec.ray.address, **kwargs)
        else:
            ray.init(address="local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = spec.ray.address or "a local Ray"
        raise SearchError(f"could not connect to Ray at {where!r}: {err}") from None
    _quiet_logs(experiment_dir)  # ray.init replaces the handlers of the "ray" logger


def _quiet_logs(experiment_dir: Path) -> None:
    """Send Ray's and Optuna's driver-side logging to a file instead of the terminal."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    handler = _FILE_HANDLERS.get(str(experiment_dir))
    if handler is None:
        handler = _FILE_HANDLERS[str(experiment_dir)] = logging.FileHandler(experiment_dir / DRIVER_LOG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("ray", "ray.tune", "ray.train", "optuna", "g4r_tune", *_NOISY_RAY_LOGGERS):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        for old in list(logger.handlers):
            if isinstance(old, logging.StreamHandler) and not isinstance(old, logging.FileHandler):
                logger.removeHandler(old)
        if handler not in logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False


def _make_searcher(
    spec: SearchSpec, experiment_dir: Path, sampler: optuna.samplers.BaseSampler | None = None
) -> AshaAwareOptunaSearch:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = spec.search.num_samples
    if sampler is None:  # a few random trials first, then TPE; constant_liar spreads concurrent proposals
        sampler = optuna.samplers.TPESampler(
            seed=spec.search.seed, n_startup_trials=max(2, min(10, n // 3)), constant_liar=True
        )
    storage = JournalStorage(JournalFileBackend(str(experiment_dir / JOURNAL_FILE)))
    return AshaAwareOptunaSearch(
        space=DefineByRun(spec),
        metric=spec.metric,
        mode=spec.mode,
        points_to_evaluate=[dict(p) for p in spec.search.warm_start] or None,
        sampler=sampler,
        study_name=spec.name,
        storage=storage,
        max_epochs=spec.asha.max_epochs,
    )


def _write_summary(spec: SearchSpec, experiment_dir: Path, **fields: Any) -> None:
    path = experiment_dir / SUMMARY_FILE
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary.update(
        name=spec.name,
        metric=spec.metric,
        mode=spec.mode,
        seed=spec.search.seed,
        max_concurrent=spec.search.max_concurrent,
        max_epochs=spec.asha.max_epochs,
        grace_period=spec.asha.grace_period,
        reduction_factor=spec.asha.reduction_factor,
        num_samples=spec.search.num_samples,
        ray_address=spec.ray.address,
        **fields,
    )
    _write_json(path, summary)


def run_search(
    spec: SearchSpec,
    *,
    resume: bool = False,
    replay: bool = False,
    progress: Callable[[SearchProgress], None] | None = None,
    trainable: Callable[..., None] = ray_trainable,
    sampler: optuna.samplers.BaseSampler | None = None,
    early_stopping: bool = True,
) -> SearchOutcome:
    """Run (or with ``resume`` continue) the search of ``spec`` into ``<storage>/<name>/``.

    ``sampler`` replaces the seeded TPE sampler and ``early_stopping=False`` replaces ASHA by running every trial to
    ``max_epochs``: both exist for baselines (benchmarks/search_efficiency.py compares against random search).
    """
    check_reachable(spec.ray.address)  # before any work: ray.init would retry an unreachable address for minutes
    experiment_dir = spec.experiment_dir()
    can_restore = experiment_dir.is_dir() and tune.Tuner.can_restore(str(experiment_dir))
    if resume and not can_restore:
        raise SearchError(f"nothing to resume in {str(experiment_dir)!r} (no Tune experiment state there)")
    if not resume and can_restore:
        raise SearchError(
            f"experiment {str(experiment_dir)!r} already exists: continue it with --resume, "
            "or choose another name / --storage"
        )
    experiment_dir.mkdir(parents=True, exist_ok=True)
    if resume and (experiment_dir / SPEC_FILE).is_file():  # the experiment's own settings, where it is now
        saved = parse_spec(yaml.safe_load((experiment_dir / SPEC_FILE).read_text()), check_files=False)
        spec = dataclasses.replace(saved, storage=spec.storage, ray=spec.ray)
    if replay:
        spec = dataclasses.replace(spec, search=dataclasses.replace(spec.search, max_concurrent=1))
    if not resume:
        (experiment_dir / SPEC_FILE).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    data, data_files = prepare_data(spec, experiment_dir)
    _connect_ray(spec, experiment_dir)
    started = time.time()
    _write_summary(
        spec, experiment_dir, status="RUNNING", replay=replay, data_files=data_files,
        started=_now(), finished=None, **({} if resume else {"wall_seconds": None}),
    )  # fmt: skip
    if progress is not None:
        _PROGRESS_SINKS[str(experiment_dir)] = progress
    wrapped = tune.with_resources(
        tune.with_parameters(trainable, data=data),
        {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial},
    )
    try:
        if resume:
            tuner = tune.Tuner.restore(str(experiment_dir), trainable=wrapped, resume_errored=True)
        else:
            tuner = tune.Tuner(
                wrapped,
                tune_config=_tune_config(spec, experiment_dir, replay, sampler, early_stopping),
                run_config=_run_config(spec, experiment_dir),
            )
        tuner.fit()
    except G4RTuneError:
        raise
    except Exception as err:
        _write_summary(spec, experiment_dir, status="FAILED", finished=_now())
        raise SearchError(f"the search stopped: {type(err).__name__}: {err}") from err
    finally:
        _PROGRESS_SINKS.pop(str(experiment_dir), None)
    wall = time.time() - started
    previous = json.loads((experiment_dir / SUMMARY_FILE).read_text()).get("wall_seconds") or 0.0
    outcome = summarize(spec, experiment_dir, previous + wall)
    status = "FINISHED" if outcome.complete else "INTERRUPTED"  # e.g. Ctrl-C: Tune stops and saves its state
    _write_summary(spec, experiment_dir, status=status, finished=_now(), wall_seconds=previous + wall)
    return outcome


def _tune_config(
    spec: SearchSpec,
    experiment_dir: Path,
    replay: bool,
    sampler: optuna.samplers.BaseSampler | None = None,
    early_stopping: bool = True,
) -> tune.TuneConfig:
    scheduler = (
        None
        if not early_stopping
        else ASHAScheduler(
            time_attr="training_iteration",
            metric=spec.metric,
            mode=spec.mode,
            max_t=spec.asha.max_epochs,
            grace_period=spec.asha.grace_period,
            reduction_factor=spec.asha.reduction_factor,
            brackets=1,
        )
    )
    return tune.TuneConfig(
        search_alg=_make_searcher(spec, experiment_dir, sampler),
        scheduler=scheduler,
        num_samples=spec.search.num_samples,
        max_concurrent_trials=1 if replay else spec.search.max_concurrent,
        reuse_actors=True,
        trial_dirname_creator=trial_dirname,
    )


def trial_dirname(trial: Any) -> str:
    """Short per-trial folder names (Ray's default embeds the whole config)."""
    return f"trial_{trial.trial_id}"


def _run_config(spec: SearchSpec, experiment_dir: Path) -> tune.RunConfig:
    return tune.RunConfig(
        name=spec.name,
        storage_path=str(experiment_dir.parent),
        verbose=0,
        log_to_file=True,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_TO_KEEP),
        failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        callbacks=[ExperimentRecorder(spec, experiment_dir)],
    )


def summarize(spec: SearchSpec, experiment_dir: Path, wall_seconds: float) -> SearchOutcome:
    """The outcome as recorded in ``g4r_trials.json`` (the same file the report reads)."""
    records = json.loads((experiment_dir / TRIALS_FILE).read_text()) if (experiment_dir / TRIALS_FILE).is_file() else []
    snap = progress_from_records(records, spec, wall_seconds)
    ended = sum(r["status"] in ("TERMINATED", "ERROR") for r in records)
    return SearchOutcome(
        complete=ended >= spec.search.num_samples,
        experiment_dir=experiment_dir,
        metric=spec.metric,
        best_value=snap.best_value,
        best_trial_id=snap.best_trial_id,
        best_config=snap.best_config,
        n_trials=len(records),
        n_errored=snap.errored,
        n_stopped_early=snap.stopped_early,
        epochs_used=snap.epochs_used,
        epoch_budget=spec.epoch_budget,
        wall_seconds=wall_seconds,
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
