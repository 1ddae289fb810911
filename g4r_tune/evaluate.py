"""Next-item evaluation: session-parallel iteration (`g4r_tune.batching`, every lane run to the end) over a test
set, scoring all items for every prediction.

Cheap enough to run after every epoch: only per-cutoff hit / reciprocal-rank sums are kept, and scores are
computed in row chunks so that no (B, n_items) intermediate grows past a fixed budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from g4r_tune.batching import SessionBatches
from g4r_tune.config import EvalConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import DataError
from g4r_tune.metrics import hit_and_reciprocal_sums, target_ranks

# Largest score block scored at once (elements): 512 lanes x 64k items, 128 MiB in float32.
_SCORE_BLOCK_ELEMENTS = 1 << 25

DEFAULT_EVAL_CONFIG = EvalConfig()  # frozen, so one shared default instance is safe

ProgressFn = Callable[[int, int], None]  # (predictions done, predictions total)


@dataclass(frozen=True)
class EvalResult:
    """Recall@K / MRR@K for every cutoff K, with the counts a reader needs to trust them."""

    recall: dict[int, float]
    mrr: dict[int, float]
    n_predictions: int
    n_dropped_unknown: int
    ties: str
    seconds: float = field(default=0.0, compare=False)

    def as_metrics(self) -> dict[str, float]:
        """Flat ``{"recall@20": ..., "mrr@20": ...}`` (every cutoff), as reported to Ray Tune and JSON."""
        out = {f"recall@{k}": v for k, v in sorted(self.recall.items())}
        out.update({f"mrr@{k}": v for k, v in sorted(self.mrr.items())})
        return out

    def to_dict(self) -> dict:
        """JSON-friendly form (string cutoff keys)."""
        return {
            "recall": {str(k): v for k, v in sorted(self.recall.items())},
            "mrr": {str(k): v for k, v in sorted(self.mrr.items())},
            "n_predictions": self.n_predictions,
            "n_dropped_unknown": self.n_dropped_unknown,
            "ties": self.ties,
            "seconds": self.seconds,
        }


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def evaluate(
    model: torch.nn.Module,
    data: SessionData,
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
    *,
    n_dropped_unknown: int = 0,
    progress: ProgressFn | None = None,
) -> EvalResult:
    """Recall@K and MRR@K of next-item prediction over every event but each session's last.

    ``data`` must be encoded with the model's training item index (test events with unknown items already
    dropped: pass their count as ``n_dropped_unknown`` so that it is reported). Runs on the model's device;
    the model's train/eval mode is restored afterwards.
    """
    if data.n_items != model.n_items:
        raise DataError(
            f"test data is encoded with an item index of {data.n_items} items but the model has {model.n_items}: "
            "load the test file with the training (or checkpoint) item index"
        )
    total = _n_predictions(data)
    if total == 0:
        raise DataError(
            f"nothing to evaluate: the test data has no session with two or more known events "
            f"({data.n_sessions} sessions, {data.n_events} events, {n_dropped_unknown} events dropped as unknown items)"
        )
    device = _model_device(model)
    cutoffs = config.cutoffs
    hits = torch.zeros(len(cutoffs), dtype=torch.float64, device=device)
    reciprocal = torch.zeros(len(cutoffs), dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    started = time.perf_counter()
    done = 0
    try:
        with torch.inference_mode():
            hidden: list[torch.Tensor] = []
            for step in SessionBatches(data, config.batch_size, min_lanes=1):
                if not hidden:
                    hidden = model.init_hidden(len(step.inputs), device=device)
                if step.keep is not None:
                    keep = torch.from_numpy(step.keep).to(device)
                    hidden = [h.index_select(0, keep) for h in hidden]
                if step.reset.any():
                    lanes = torch.from_numpy(np.flatnonzero(step.reset)).to(device)
                    hidden = [h.index_fill(0, lanes, 0.0) for h in hidden]
                inputs = torch.from_numpy(step.inputs).to(device)
                targets = torch.from_numpy(step.targets).to(device)
                out, hidden = model.step(inputs, hidden)  # (B, H_last)
                rows_per_block = max(1, _SCORE_BLOCK_ELEMENTS // max(model.n_items, 1))
                for lo in range(0, len(targets), rows_per_block):
                    scores = model.score_all(out[lo : lo + rows_per_block])  # (b, n_items)
                    ranks = target_ranks(scores, targets[lo : lo + rows_per_block], config.ties)
                    block_hits, block_rr = hit_and_reciprocal_sums(ranks, cutoffs)
                    hits += block_hits
                    reciprocal += block_rr
                done += len(targets)
                if progress is not None:
                    progress(done, total)
    finally:
        model.train(was_training)
    if done != total:  # the iterator's invariant: every event but each session's last is predicted once
        raise RuntimeError(f"evaluation made {done} predictions, expected {total}")
    hit_list, rr_list = hits.tolist(), reciprocal.tolist()
    return EvalResult(
        recall={k: h / total for k, h in zip(cutoffs, hit_list, strict=True)},
        mrr={k: r / total for k, r in zip(cutoffs, rr_list, strict=True)},
        n_predictions=total,
        n_dropped_unknown=int(n_dropped_unknown),
        ties=config.ties,
        seconds=time.perf_counter() - started,
    )


def _n_predictions(data: SessionData) -> int:
    """Predictions in a pass (sessions of one event predict nothing)."""
    lengths = data.session_lengths
    return int(np.maximum(lengths - 1, 0).sum())
