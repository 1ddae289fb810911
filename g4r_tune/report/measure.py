"""What the report measures or loads beyond the result files: checkpoint latency, dataset statistics, Optuna
parameter importances. Each returns plain data; failures become notes in the report, never lost work."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from g4r_tune.errors import G4RTuneError
from g4r_tune.report.reader import Experiment, TrialResult


def resolve_data_path(exp: Experiment, key: str) -> Path | None:
    """The ``key`` split file (train / valid / train_full / test) as an existing file: the search's recorded
    ``data_files`` first (generated data lives in the experiment folder), then ``spec.data.<key>``; absolute,
    relative to the working directory, or to the folders around the experiment folder."""
    data = exp.spec.get("data") or {}
    recorded = exp.search.get("data_files") or {}
    for value in (
        recorded.get(key) if isinstance(recorded, dict) else None,
        data.get(key) if isinstance(data, dict) else None,
    ):
        if not value or not isinstance(value, str):
            continue
        raw = Path(value).expanduser()
        for candidate in (
            raw,
            exp.path / raw,
            exp.path / "data" / raw.name,
            exp.path.parent / raw,
            exp.path.parent.parent / raw,
        ):
            if candidate.is_file():
                return candidate.resolve()
    return None


def load_stats(path: Path) -> dict[str, Any]:
    """The T6.1 statistics of a split file (`g4r-tune data stats`), as label -> value."""
    from g4r_tune.data.loader import read_events
    from g4r_tune.data.stats import dataset_stats

    stats = dataset_stats(read_events(path), name=path.name).to_dict()
    stats.pop("name", None)
    return {key.replace("_", " "): value for key, value in stats.items()}


@dataclass(frozen=True)
class CheckpointLatency:
    trial_id: str
    stats: dict[str, Any]  # LatencyStats.to_dict()
    sessions: str  # where the replayed clicks came from


def measure_checkpoint(
    trial: TrialResult,
    sessions_path: Path | None,
    *,
    n_requests: int,
    threads: int,
    warmup: int = 300,
    progress: Callable[[int, int], None] | None = None,
    cache: dict[tuple[str, int], Any] | None = None,
) -> CheckpointLatency | None:
    """Latency of a trial's checkpoint on the validation clicks (random clicks when that file is unavailable).

    ``cache`` keeps the encoded validation sessions between checkpoints trained on the same item index."""
    from g4r_tune.checkpoint import load_checkpoint
    from g4r_tune.latency import measure_latency, synthetic_sessions

    folder = trial.checkpoint_dir()
    if folder is None:
        return None
    ckpt = load_checkpoint(folder)
    data, source = None, "random clicks (validation file not found)"
    if sessions_path is not None:
        from g4r_tune.data.loader import load_sessions

        key = (str(sessions_path), hash(ckpt.item_index.ids.tobytes()))
        cached = cache.get(key) if cache is not None else None
        data = cached if cached is not None else load_sessions(sessions_path, ckpt.item_index).data
        if cache is not None:
            cache[key] = data
        source = f"{sessions_path.name} click by click"
        if data.n_events == 0:
            data = None
    if data is None:
        data = synthetic_sessions(ckpt.model.n_items, n_sessions=2000, seed=0)
    stats = measure_latency(
        ckpt.model,
        data,
        n_requests=n_requests,
        warmup=warmup,
        threads=threads,
        item_ids=ckpt.item_index.ids,
        progress=progress,
    )
    return CheckpointLatency(trial.trial_id, stats.to_dict(), source)


def architecture_key(config: dict[str, Any]) -> str:
    """Latency depends on the architecture (and item count), not the weights: trials sharing it share a figure."""
    keys = ("layers", "embedding", "constrained_embedding")
    return "|".join(f"{k}={config.get(k)}" for k in keys)


def param_importances(exp: Experiment) -> tuple[dict[str, float], str | None, str]:
    """Optuna's default-evaluator importances on the persisted journal study: (importances, note on failure,
    evaluator name).

    The journal is copied to a temporary folder first so that reading never writes into the experiment folder.
    """
    journal = exp.journal_path
    if journal is None:
        return {}, "no optuna_journal.log in the experiment folder", ""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="g4r_journal_"))
    try:
        copy = tmp / journal.name
        shutil.copyfile(journal, copy)
        storage = JournalStorage(JournalFileBackend(str(copy)))
        names = [s.study_name for s in optuna.study.get_all_study_summaries(storage)]
        if not names:
            return {}, "the Optuna journal holds no study", ""
        name = exp.name if exp.name in names else names[0]
        study = optuna.load_study(study_name=name, storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) < 2:
            return {}, f"parameter importances need >= 2 completed trials; the study has {len(complete)}", ""
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()  # Optuna 5's default, named explicitly
        with warnings.catch_warnings():  # "few trials in a regime" warnings: small searches are expected
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return {k: float(v) for k, v in values.items()}, None, "PED-ANOVA"
    except (G4RTuneError, RuntimeError, ValueError, KeyError, OSError) as err:
        return {}, f"parameter importances unavailable: {err}", ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
