"""The Ray Tune function trainable. ``run_trial`` is a plain function with its side effects injected through a
``TrialContext`` (report, checkpoint restore, node identity), so tests run it without Ray; ``RayTrialContext`` is the
only part that talks to Ray.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from g4r_tune.config import EvalConfig, Hyperparams, RuntimeConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import TrainingDiverged

TRAINER_STATE_FILE = "trainer_state.pt"
DIVERGED_MARKER = "g4r_diverged.json"
REPORTED_CUTOFFS = (1, 5, 10, 20)


@dataclass(frozen=True)
class TrialData:
    """Everything a trial needs besides its config; shipped to the object store once via ``tune.with_parameters``."""

    train: SessionData
    valid: SessionData
    max_epochs: int
    threads: int = 1
    seed: int = 42
    device: str = "cpu"  # "cuda" when the spec gives trials a GPU
    valid_dropped_unknown: int = 0  # validation events dropped because their item is not in train
    eval_config: EvalConfig = field(default_factory=lambda: EvalConfig(cutoffs=REPORTED_CUTOFFS))


class TrialContext(Protocol):
    """The side effects a trial has; Ray's implementation is ``RayTrialContext``."""

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path) -> None: ...

    def restored_checkpoint(self) -> contextlib.AbstractContextManager[Path | None]: ...

    def node(self) -> tuple[str, str]: ...  # (node_ip, node_id)

    def trial_dir(self) -> Path | None: ...


def hyperparams_from_config(config: Mapping[str, Any], max_epochs: int) -> Hyperparams:
    """The ONE place that turns Ray's flat config dict into the model's Hyperparams (unknown keys are errors)."""
    return Hyperparams.from_mapping({**config, "n_epochs": max_epochs}, path="trial config")


def writable_copy(data: SessionData) -> SessionData:
    """Object-store arrays arrive read-only (zero-copy); torch.from_numpy needs writable memory."""
    arrays = {name: np.array(getattr(data, name), copy=True) for name in ("items", "offsets", "times", "session_ids")}
    return replace(data, **arrays)


def epoch_metrics(stats: Any, result: Any, node: tuple[str, str]) -> dict[str, Any]:
    """One report: recall@K / mrr@K for K in 1, 5, 10, 20, loss, timing and where it ran."""
    metrics: dict[str, Any] = {}
    for k in REPORTED_CUTOFFS:
        metrics[f"recall@{k}"] = float(result.recall[k])
        metrics[f"mrr@{k}"] = float(result.mrr[k])
    metrics.update(
        loss=float(stats.loss),
        epoch=int(stats.epoch),
        epoch_seconds=float(stats.seconds),
        events_per_second=float(stats.events_per_second),
        n_predictions=int(result.n_predictions),
        node_ip=node[0],
        node_id=node[1],
    )
    return metrics


def _default_trainer(params: Hyperparams, data: SessionData, runtime: RuntimeConfig) -> Any:
    from g4r_tune.train import Trainer

    return Trainer(params, data, runtime)


def _default_evaluate(model: Any, data: SessionData, config: EvalConfig, n_dropped_unknown: int) -> Any:
    from g4r_tune.evaluate import evaluate

    return evaluate(model, data, config, n_dropped_unknown=n_dropped_unknown)


def _default_save(path: Path, model: Any, params: Hyperparams, data: SessionData, extra: dict[str, Any]) -> None:
    from g4r_tune.checkpoint import save_checkpoint

    save_checkpoint(path, model, params, data.item_index, extra=extra)


def run_trial(
    config: Mapping[str, Any],
    data: TrialData,
    ctx: TrialContext,
    *,
    make_trainer: Callable[[Hyperparams, SessionData, RuntimeConfig], Any] = _default_trainer,
    evaluate_fn: Callable[[Any, SessionData, EvalConfig, int], Any] = _default_evaluate,
    save_fn: Callable[[Path, Any, Hyperparams, SessionData, dict[str, Any]], None] = _default_save,
) -> None:
    """Train epoch by epoch up to ``data.max_epochs``, evaluating on valid and reporting (with a checkpoint) once
    per epoch, so ``training_iteration == epoch``. Resumes from the context's checkpoint when there is one."""
    params = hyperparams_from_config(config, data.max_epochs)
    torch.set_num_threads(max(1, data.threads))
    _raise_if_diverged_before(ctx)
    train, valid = writable_copy(data.train), writable_copy(data.valid)
    trainer = make_trainer(
        params, train, RuntimeConfig(device=data.device, threads=max(1, data.threads), seed=data.seed)
    )
    with ctx.restored_checkpoint() as restored:
        if restored is not None:
            trainer.load_state_dict(torch.load(restored / TRAINER_STATE_FILE, weights_only=True))
    node = ctx.node()
    while trainer.epoch < data.max_epochs:
        try:
            stats = trainer.train_epoch()
        except TrainingDiverged as err:
            _mark_diverged(ctx, err)
            raise
        result = evaluate_fn(trainer.model, valid, data.eval_config, data.valid_dropped_unknown)
        metrics = epoch_metrics(stats, result, node)
        with tempfile.TemporaryDirectory(prefix="g4r_ckpt_") as tmp:
            folder = Path(tmp)
            save_fn(folder, trainer.model, params, train, {"epoch": metrics["epoch"], "metrics": metrics})
            torch.save(trainer.state_dict(), folder / TRAINER_STATE_FILE)
            ctx.report(metrics, folder)  # Ray copies the checkpoint to storage before returning


def _mark_diverged(ctx: TrialContext, err: TrainingDiverged) -> None:
    """Leave a note so that a retry (FailureConfig) fails at once instead of re-training into the same NaN."""
    folder = ctx.trial_dir()
    if folder is not None:
        payload = {"epoch": err.epoch, "step": err.step, "loss": str(err.loss)}
        with contextlib.suppress(OSError):
            (folder / DIVERGED_MARKER).write_text(json.dumps(payload))


def _raise_if_diverged_before(ctx: TrialContext) -> None:
    folder = ctx.trial_dir()
    marker = folder / DIVERGED_MARKER if folder is not None else None
    if marker is not None and marker.is_file():
        info = json.loads(marker.read_text())
        raise TrainingDiverged(int(info["epoch"]), int(info["step"]), float(info["loss"]))


class RayTrialContext:
    """``TrialContext`` on Ray Tune: ``tune.report`` with a checkpoint, ``tune.get_checkpoint`` to resume."""

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path) -> None:
        from ray import tune

        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_dir)))

    @contextlib.contextmanager
    def restored_checkpoint(self) -> Iterator[Path | None]:
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as folder:
            yield Path(folder)

    def node(self) -> tuple[str, str]:
        import ray

        return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()

    def trial_dir(self) -> Path | None:
        """The trial's folder in the experiment storage, shared by all nodes on a cluster, so that a retry on another
        node sees the divergence note. `get_trial_dir()` is a node-local staging folder in Ray's session dir."""
        from ray import tune

        with contextlib.suppress(Exception):  # a developer API of Ray's: fall back to the local folder if it moved
            import pyarrow.fs
            from ray.train._internal.session import get_storage

            storage = get_storage()
            if isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
                folder = Path(storage.trial_fs_path)
                folder.mkdir(parents=True, exist_ok=True)
                return folder
        try:
            return Path(tune.get_context().get_trial_dir())
        except Exception:  # outside a Tune session
            return None


def ray_trainable(config: dict[str, Any], data: TrialData) -> None:
    """The function Ray runs (wrapped with ``tune.with_parameters(ray_trainable, data=...)``)."""
    run_trial(config, data, RayTrialContext())
