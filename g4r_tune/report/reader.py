"""Reads an experiment folder (the contract in docs/ARCHITECTURE.md) from its JSON / CSV / YAML files only.

Nothing here unpickles: experiment folders may come from elsewhere. Missing optional files degrade the report
(noted in ``Experiment.notes``); a folder without ``g4r_trials.json`` is not an experiment and is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from g4r_tune.errors import ReportError

TRIALS_FILE = "g4r_trials.json"
SEARCH_FILE = "g4r_search.json"
SPEC_FILE = "g4r_spec.yaml"
JOURNAL_FILE = "optuna_journal.log"


@dataclass(frozen=True)
class TrialResult:
    """One trial: its record from ``g4r_trials.json`` plus its per-epoch history from ``result.json``."""

    trial_id: str
    status: str
    stopped_early: bool
    epochs: int
    config: dict[str, Any]
    error: str | None
    node_ip: str | None
    trial_dir: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch, in epoch order

    def checkpoint_dir(self) -> Path | None:
        """The newest ``checkpoint_*`` folder holding a saved model (``model.pt`` + ``config.json``), if any."""
        if self.trial_dir is None or not self.trial_dir.is_dir():
            return None
        for ckpt in sorted(self.trial_dir.glob("checkpoint_*"), key=_natural_key, reverse=True):
            for candidate in (ckpt, *sorted(p for p in ckpt.iterdir() if p.is_dir())):
                if (candidate / "model.pt").is_file() and (candidate / "config.json").is_file():
                    return candidate
        return None


@dataclass(frozen=True)
class Experiment:
    path: Path
    name: str
    spec: dict[str, Any]
    search: dict[str, Any]
    trials: list[TrialResult]  # in start order
    notes: list[str]

    def param_active(self, name: str, config: dict[str, Any]) -> bool:
        """Whether a searched parameter applied to a trial (``when:`` conditions of the spec's space)."""
        entry = (self.spec.get("space") or {}).get(name)
        when = entry.get("when") if isinstance(entry, dict) else None
        if not isinstance(when, dict):
            return True
        for key, allowed in when.items():
            values = allowed if isinstance(allowed, list) else [allowed]
            if config.get(key) not in values:
                return False
        return True

    @property
    def metric(self) -> str:
        return str(self.search.get("metric") or self.spec.get("metric") or "recall@20")

    @property
    def mode(self) -> str:
        return str(self.search.get("mode") or "max")

    @property
    def max_epochs(self) -> int:
        asha = self.spec.get("asha") or {}
        value = self.search.get("max_epochs") or asha.get("max_epochs")
        if value:
            return int(value)
        return max((t.epochs for t in self.trials), default=0)

    @property
    def journal_path(self) -> Path | None:
        path = self.path / JOURNAL_FILE
        return path if path.is_file() else None

    def searched_params(self) -> list[str]:
        """Names in the spec's ``space`` (else: config keys whose values differ between trials)."""
        space = self.spec.get("space")
        if isinstance(space, dict) and space:
            return list(space)
        keys = sorted({k for t in self.trials for k in t.config})
        return [k for k in keys if len({json.dumps(t.config.get(k), sort_keys=True) for t in self.trials}) > 1]


def read_experiment(path: str | Path) -> Experiment:
    """Load an experiment folder; raises ReportError naming the file when it is not readable."""
    root = Path(path)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory (expected an experiment folder written by `g4r-tune search`)")
    trials_path = root / TRIALS_FILE
    if not trials_path.is_file():
        raise ReportError(f"{root}: no {TRIALS_FILE}; is this an experiment folder written by `g4r-tune search`?")
    notes: list[str] = []
    records = _read_json(trials_path)
    if isinstance(records, dict):  # tolerate {"trials": [...]}
        records = records.get("trials", [])
    if not isinstance(records, list):
        raise ReportError(f"{trials_path}: expected a list of trial records")
    search = _read_json(root / SEARCH_FILE) if (root / SEARCH_FILE).is_file() else {}
    if not search:
        notes.append(f"{SEARCH_FILE} is missing: the search was probably interrupted")
    spec = _read_yaml(root / SPEC_FILE) if (root / SPEC_FILE).is_file() else {}
    trials = [_trial(root, rec, trials_path, i, notes) for i, rec in enumerate(records)]
    # g4r_trials.json lists trials in Tune's creation order: that order is the trial index (ids may be random)
    name = str(spec.get("name") or search.get("name") or root.name)
    return Experiment(root, name, spec, search, trials, notes)


def read_history(result_json: Path) -> list[dict[str, Any]]:
    """Per-epoch rows of a Ray ``result.json`` (one JSON object per line); a torn last line is skipped."""
    rows = []
    with open(result_json, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written when the search stopped
            if isinstance(row, dict):
                rows.append(row)
    rows.sort(key=lambda r: int(r.get("epoch", r.get("training_iteration", 0)) or 0))
    return rows


def _trial(root: Path, rec: Any, source: Path, i: int, notes: list[str]) -> TrialResult:
    if not isinstance(rec, dict) or "trial_id" not in rec:
        raise ReportError(f"{source}: record {i} is not a trial record with a trial_id")
    trial_dir = (root / rec["trial_dir"]) if rec.get("trial_dir") else None
    history: list[dict[str, Any]] = []
    if trial_dir is not None and (trial_dir / "result.json").is_file():
        history = read_history(trial_dir / "result.json")
    elif rec.get("status") in ("TERMINATED", "ERROR"):
        notes.append(f"trial {rec['trial_id']}: no result.json found")
    epochs = int(rec.get("epochs") or len(history))
    return TrialResult(
        trial_id=str(rec["trial_id"]),
        status=str(rec.get("status", "UNKNOWN")),
        stopped_early=bool(rec.get("stopped_early", False)),
        epochs=epochs,
        config=dict(rec.get("config") or {}),
        error=rec.get("error"),
        node_ip=rec.get("node_ip"),
        trial_dir=trial_dir,
        history=history,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: unreadable JSON ({err})") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ReportError(f"{path}: unreadable YAML ({err})") from None
    return value if isinstance(value, dict) else {}


def _natural_key(value: Any) -> list[Any]:
    text = value.name if isinstance(value, Path) else str(value)
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
