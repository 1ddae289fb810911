"""An experiment folder built to the contract in docs/ARCHITECTURE.md, with known numbers for golden checks.

Six trials of a bpr-max search over layers / learning_rate / momentum, max 4 epochs, ASHA grace 1 and
reduction factor 2 (rungs at epochs 1 and 2): three finished, two stopped early by ASHA, one errored. Data files
are generated (four synthetic splits); each scored trial has a real (untrained) checkpoint from save_checkpoint;
the Optuna journal is a real JournalStorage study with COMPLETE and PRUNED trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

MAX_EPOCHS = 4
# trial id -> (status, stopped_early, layers, learning_rate, momentum, per-epoch recall@20, per-epoch seconds)
TRIALS: dict[str, tuple[str, bool, int, float, float, list[float], list[float]]] = {
    "t_00000": ("TERMINATED", False, 32, 0.05, 0.1, [0.20, 0.30, 0.3490, 0.3500], [1.0, 1.0, 1.0, 1.0]),
    "t_00001": ("TERMINATED", True, 16, 0.02, 0.0, [0.10], [0.5]),
    "t_00002": ("TERMINATED", False, 64, 0.08, 0.3, [0.25, 0.38, 0.40, 0.3995], [2.0, 2.0, 2.0, 2.0]),
    "t_00003": ("ERROR", False, 32, 0.9, 0.5, [0.05], [1.0]),
    "t_00004": ("TERMINATED", True, 16, 0.03, 0.2, [0.22, 0.25], [0.5, 0.5]),
    "t_00005": ("TERMINATED", False, 16, 0.06, 0.4, [0.30, 0.33, 0.3302, 0.3300], [0.5, 0.5, 0.5, 0.5]),
}
ERROR_REASON = "TrainingDiverged: training diverged: loss is nan at epoch 2, step 17"


def config_of(layers: int, lr: float, momentum: float) -> dict[str, Any]:
    from g4r_tune.config import Hyperparams

    return Hyperparams(
        loss="bpr-max",
        layers=(layers,),
        batch_size=16,
        n_epochs=MAX_EPOCHS,
        learning_rate=lr,
        momentum=momentum,
        n_sample=64,
        bpreg=1.5,
    ).to_dict()


def epoch_row(trial_id: str, epoch: int, recall20: float, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "epoch": epoch,
        "training_iteration": epoch,
        "trial_id": trial_id,
        "loss": 1.0 / epoch,
        "epoch_seconds": seconds,
        "events_per_second": 1000.0 / seconds,
        "node_ip": "127.0.0.1",
        "node_id": "n1",
    }
    for k, share in ((1, 0.25), (5, 0.6), (10, 0.8), (20, 1.0)):
        row[f"recall@{k}"] = round(recall20 * share, 6)
        row[f"mrr@{k}"] = round(recall20 * share * 0.4, 6)
    return row


def build_experiment(
    root: Path,
    name: str = "fixture_bprmax",
    *,
    with_checkpoints: bool = True,
    n_items: int = 120,
    data_name: str = "fixture",
) -> Path:
    """Write the experiment folder ``root/name`` (and its data under ``root/data``); returns its path."""
    from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits

    exp = root / name
    exp.mkdir(parents=True)
    splits = write_synthetic_splits(
        root / "data" / data_name, SynthConfig(n_items=n_items, n_sessions=500, days=6, seed=3), name=data_name
    )
    files = {
        "train": str(splits.train_tr),
        "valid": str(splits.train_valid),
        "train_full": str(splits.train_full),
        "test": str(splits.test),
    }
    spec = {
        "name": name,
        "data": {"train": files["train"], "valid": files["valid"]},
        "fixed": {"loss": "bpr-max", "batch_size": 16, "n_sample": 64, "bpreg": 1.5},
        "space": {
            "layers": {"type": "int", "low": 16, "high": 64, "step": 16},
            "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
            "momentum": {"type": "float", "low": 0.0, "high": 0.5},
        },
        "metric": "recall@20",
        "search": {"num_samples": 6, "max_concurrent": 2, "seed": 7},
        "asha": {"max_epochs": MAX_EPOCHS, "grace_period": 1, "reduction_factor": 2},
        "report": {"top_k": 3, "latency": {"p99_budget_ms": 100.0}},
    }
    (exp / "g4r_spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (exp / "g4r_search.json").write_text(
        json.dumps(
            {
                "name": name,
                "metric": "recall@20",
                "mode": "max",
                "seed": 7,
                "max_concurrent": 2,
                "max_epochs": MAX_EPOCHS,
                "grace_period": 1,
                "reduction_factor": 2,
                "num_samples": 6,
                "started": "2026-12-03T10:00:00",
                "finished": "2026-12-03T10:01:00",
                "wall_seconds": 60.0,
                "status": "FINISHED",
                "data_files": {"train": files["train"], "valid": files["valid"]},
            }
        )
    )
    records = []
    for trial_id, (status, early, layers, lr, mom, recalls, secs) in TRIALS.items():
        tdir = exp / f"trial_{trial_id}"
        tdir.mkdir()
        rows = [epoch_row(trial_id, e + 1, r, s) for e, (r, s) in enumerate(zip(recalls, secs, strict=True))]
        config = config_of(layers, lr, mom)
        (tdir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (tdir / "params.json").write_text(json.dumps(config))
        if with_checkpoints and status != "ERROR":
            _checkpoint(tdir / f"checkpoint_{len(rows) - 1:06d}", config, splits.train_tr)
        records.append(
            {
                "trial_id": trial_id,
                "status": status,
                "stopped_early": early,
                "epochs": len(rows),
                "config": config,
                "error": ERROR_REASON if status == "ERROR" else None,
                "node_ip": "127.0.0.1",
                "node_id": "n1",
                "trial_dir": tdir.name,
            }
        )
    (exp / "g4r_trials.json").write_text(json.dumps(records, indent=1))  # in start order, as Tune lists them
    _journal(exp / "optuna_journal.log", name)
    return exp


def _checkpoint(folder: Path, config: dict[str, Any], train_path: str) -> None:
    from g4r_tune.checkpoint import save_checkpoint
    from g4r_tune.config import Hyperparams
    from g4r_tune.data.loader import load_sessions
    from g4r_tune.model import GRU4Rec

    params = Hyperparams.from_mapping(config)
    index = load_sessions(train_path).data.item_index
    save_checkpoint(folder, GRU4Rec(params, len(index)), params, index)


def _journal(path: Path, name: str) -> None:
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, direction="maximize", storage=JournalStorage(JournalFileBackend(str(path)))
    )
    dists = {
        "layers": IntDistribution(16, 64, step=16),
        "learning_rate": FloatDistribution(0.01, 1.0, log=True),
        "momentum": FloatDistribution(0.0, 0.5),
    }
    for status, early, layers, lr, mom, recalls, _ in TRIALS.values():
        if status == "ERROR":
            continue
        state = TrialState.PRUNED if early else TrialState.COMPLETE
        study.add_trial(
            create_trial(
                params={"layers": layers, "learning_rate": lr, "momentum": mom},
                distributions=dists,
                value=None if early else recalls[-1],
                state=state,
                intermediate_values={i + 1: v for i, v in enumerate(recalls)},
            )
        )
