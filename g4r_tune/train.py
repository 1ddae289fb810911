"""The training engine: session-parallel epochs of one-step-BPTT GRU4Rec with shared negatives.

A step gathers the rows of the item tables it touches once (inputs, targets and samples), runs the GRU, scores
the lanes against the column set ``[targets] + [shared samples]``, and updates only those rows (row-sparse
Adagrad with momentum) plus the dense GRU weights. Two engines compute the same step:
- ``reference``: plain PyTorch with autograd and the loss functions of `g4r_tune.losses` (any device);
- ``fast`` (CPU float32, the default there): scores each distinct row once and uses the fused numba kernels of
  `g4r_tune.kernels` for the loss forward+backward and the in-place optimizer updates.
tests/test_train.py checks that both give the same losses and parameters to float32 rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from g4r_tune import losses
from g4r_tune.batching import SessionBatches
from g4r_tune.config import Hyperparams, RuntimeConfig
from g4r_tune.data.sessions import SessionData
from g4r_tune.errors import ConfigError, TrainingDiverged, must_be
from g4r_tune.model import GRU4Rec
from g4r_tune.optim import AdagradMomentum
from g4r_tune.sampling import NegativeSampler

ProgressFn = Callable[[int, int], None]  # (events done, events in the epoch)
ENGINES = ("auto", "fast", "reference")


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based number of the finished epoch
    loss: float  # mean loss per prediction
    seconds: float
    events_per_second: float
    n_batches: int


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(must_be("device", name, "cpu or auto on a machine without CUDA"))
    return torch.device(name)


class Trainer:
    """Trains a `GRU4Rec` on ``data`` (see docs/ARCHITECTURE.md for the contract)."""

    def __init__(
        self, params: Hyperparams, data: SessionData, runtime: RuntimeConfig | None = None, *, engine: str = "auto"
    ) -> None:
        if engine not in ENGINES:
            raise ConfigError(must_be("engine", engine, f"one of {', '.join(ENGINES)}"))
        if data.n_items == 0 or data.n_predictions == 0:
            from g4r_tune.errors import DataError

            raise DataError("training data has no session with two or more events")
        runtime = RuntimeConfig() if runtime is None else runtime
        self.params, self.data, self.runtime = params, data, runtime
        if runtime.threads is not None:
            torch.set_num_threads(runtime.threads)
        self.device = resolve_device(runtime.device)
        self.fast = engine == "fast" or (engine == "auto" and self.device.type == "cpu")
        if self.fast and self.device.type != "cpu":
            raise ConfigError(must_be("engine", engine, "'reference' or 'auto' on a CUDA device"))
        if self.fast:
            from g4r_tune import kernels

            self._k = kernels  # serial kernels: numba.set_num_threads would reset torch's OpenMP threads
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(runtime.seed)
            self.model = GRU4Rec(params, data.n_items).to(self.device)
        self.model.train()
        self.epoch = 0
        self.mask_rng = torch.Generator(device=self.device)
        self.mask_rng.manual_seed(runtime.seed + 1)
        support = data.item_support()
        self.sampler = NegativeSampler(support, params.n_sample, params.sample_alpha, seed=runtime.seed + 2)
        log_support = np.log(np.maximum(support, 1).astype(np.float64))
        self.log_support = torch.as_tensor(log_support, dtype=torch.float32, device=self.device)
        self.batches = SessionBatches(data, params.batch_size, min_lanes=2 if params.n_sample == 0 else 1)
        m = self.model
        self.sparse_names = ["Wy", "By"] + (["input_table"] if m.input_table is not None else [])
        self.dense = {n: p for n, p in m.named_parameters() if n not in self.sparse_names and p.numel() > 0}
        named = {n: p.data for n, p in m.named_parameters() if p.numel() > 0}
        self.optimizer = AdagradMomentum(named, params.learning_rate, params.momentum, fused=self.fast)
        if self.fast:
            self._marker = np.full(data.n_items, -1, dtype=np.int64)
            self._zeros = np.zeros(0, np.float32)
        self._loss_code = self._k.LOSS_CODES[params.loss] if self.fast else -1

    # --- epochs ---------------------------------------------------------------------------------------------

    def fit(self, n_epochs: int | None = None, on_epoch: Callable[[EpochStats], bool | None] | None = None):
        """Train until ``n_epochs`` epochs are done in total (default ``params.n_epochs``); resumes count."""
        target = self.params.n_epochs if n_epochs is None else int(n_epochs)
        history: list[EpochStats] = []
        while self.epoch < target:
            stats = self.train_epoch()
            history.append(stats)
            if on_epoch is not None and on_epoch(stats):
                break
        return history

    def train_epoch(self, progress: ProgressFn | None = None) -> EpochStats:
        self.model.train()
        t0 = time.perf_counter()
        total_loss, n_events, n_batches = 0.0, 0, 0
        total = self.batches.n_predictions
        hidden: list[Tensor] = []
        for step in self.batches:
            n = len(step.inputs)
            if step.keep is not None:
                keep = torch.as_tensor(step.keep, device=self.device)
                hidden = [h[keep] for h in hidden]
            if n_batches == 0:
                hidden = self.model.init_hidden(n, self.device)
            elif step.reset.any():
                reset = torch.as_tensor(step.reset, device=self.device)
                for h in hidden:
                    h[reset] = 0.0
            samples = self.sampler.next()
            masks = self.model.draw_masks(n, self.device, self.mask_rng)
            run = self._fast_step if self.fast else self._reference_step
            loss, hidden = run(step.inputs, step.targets, samples, hidden, masks)
            if not math.isfinite(loss):
                raise TrainingDiverged(self.epoch + 1, n_batches + 1, loss)
            total_loss += loss
            n_events += n
            n_batches += 1
            if progress is not None and n_batches % 100 == 0:
                progress(n_events, total)
        seconds = time.perf_counter() - t0
        self.epoch += 1
        if progress is not None:
            progress(n_events, total)
        return EpochStats(
            epoch=self.epoch,
            loss=total_loss / max(n_events, 1),
            seconds=seconds,
            events_per_second=n_events / seconds if seconds > 0 else float("inf"),
            n_batches=n_batches,
        )

    # --- one step, two engines ------------------------------------------------------------------------------

    def _log_q(self, targets: Tensor, samples: Tensor) -> Tensor | None:
        if self.params.loss != "cross-entropy" or self.params.logq <= 0:
            return None
        return torch.cat([self.log_support[targets], self.params.sample_alpha * self.log_support[samples]])

    def _reference_step(self, inputs, targets, samples, hidden, masks) -> tuple[float, list[Tensor]]:
        m, p, dev = self.model, self.params, self.device
        inputs_t = torch.as_tensor(inputs, device=dev)
        y = torch.cat([torch.as_tensor(targets, device=dev), torch.as_tensor(samples, device=dev)])
        n = len(inputs_t)
        y_rows, y_inv = torch.unique(y, return_inverse=True)
        if m.constrained:
            rows, inv = torch.unique(torch.cat([inputs_t, y]), return_inverse=True)
            w = m.Wy.detach()[rows].requires_grad_()
            x, w_cols = w[inv[:n]], w[inv[n:]]
            table_rows = None
        else:
            table_rows, in_inv = torch.unique(inputs_t, return_inverse=True)
            x_rows = m.input_table.detach()[table_rows].requires_grad_()
            x = x_rows[in_inv]
            rows = y_rows
            w = m.Wy.detach()[rows].requires_grad_()
            w_cols = w[y_inv]
        b = m.By.detach()[y_rows].requires_grad_()
        out, new_hidden = m.step_from_input(x, hidden, masks)
        scores = out @ w_cols.T + b[y_inv]
        lane = losses.lane_losses(
            p.loss, scores, bpreg=p.bpreg, elu_param=p.elu_param, logq=p.logq, log_q=self._log_q(y[:n], y[n:])
        )
        loss = lane.sum() / p.batch_size
        for prm in self.dense.values():
            prm.grad = None
        loss.backward()
        opt = self.optimizer
        for name, prm in self.dense.items():
            opt.dense_step(name, prm.grad)
        opt.sparse_step("Wy", rows, w.grad)
        opt.sparse_step("By", y_rows, b.grad)
        if table_rows is not None:
            opt.sparse_step("input_table", table_rows, x_rows.grad)
        return float(lane.detach().sum()), [h.detach() for h in new_hidden]

    def _unique(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.empty(len(idx), dtype=np.int64)
        inv = np.empty(len(idx), dtype=np.int64)
        n = self._k.unique_rows(idx, self._marker, rows, inv)
        return rows[:n], inv

    def _fast_step(self, inputs, targets, samples, hidden, masks) -> tuple[float, list[Tensor]]:
        m, p, k = self.model, self.params, self._k
        n = len(inputs)
        y = np.concatenate([targets, samples])
        n_cols = len(y)
        # distinct rows in first-seen order with the scored columns first: rows[:n_y] are exactly the items in
        # y (each scored once, and the only rows of By that get an update); shared input-only items come after
        if m.constrained:
            rows, inv = self._unique(np.concatenate([y, inputs]))
            col_pos, in_pos = inv[:n_cols], inv[n_cols:]
        else:
            rows, col_pos = self._unique(y)
            table_rows, in_pos = self._unique(np.ascontiguousarray(inputs))
        n_y = int(col_pos.max()) + 1
        rows_t = torch.from_numpy(rows)
        w = m.Wy.data.index_select(0, rows_t)
        w_y = w[:n_y]
        b_y = m.By.data.index_select(0, rows_t[:n_y])
        source = w if m.constrained else m.input_table.data.index_select(0, torch.from_numpy(table_rows))
        in_pos_t = torch.from_numpy(in_pos)
        x = source.index_select(0, in_pos_t).requires_grad_()
        out, new_hidden = m.step_from_input(x, hidden, masks)
        out_d = out.detach()
        scores = torch.addmm(b_y, out_d, w_y.T)
        grad = torch.empty_like(scores)
        lane = np.empty(n, dtype=np.float64)
        log_q = self._log_q(torch.from_numpy(targets), torch.from_numpy(samples))
        if self._loss_code == 0 and log_q is None:  # plain cross-entropy: column multiplicities, no gather
            counts = np.bincount(col_pos, minlength=n_y).astype(np.float32)
            k.cross_entropy_counts_fwd_bwd(scores.numpy(), counts, col_pos[:n], 1.0 / p.batch_size, grad.numpy(), lane)
        else:
            offset = self._zero_offset(n_cols) if log_q is None else (p.logq * log_q).numpy()
            k.loss_fwd_bwd(
                scores.numpy(), col_pos, offset, self._loss_code, p.bpreg, p.elu_param, 1.0 / p.batch_size,
                grad.numpy(), lane,
            )  # fmt: skip
        for prm in self.dense.values():
            prm.grad = None
        out.backward(grad @ w_y)
        opt = self.optimizer
        for name, prm in self.dense.items():
            opt.dense_step(name, prm.grad)
        opt.sparse_step("By", rows_t[:n_y], grad.sum(0))
        grad_w = torch.empty_like(w)
        grad_w[n_y:].zero_()
        torch.mm(grad.T, out_d, out=grad_w[:n_y])
        if m.constrained:
            grad_w.index_add_(0, in_pos_t, x.grad)
        else:
            grad_x = torch.zeros(len(table_rows), x.shape[1])
            grad_x.index_add_(0, in_pos_t, x.grad)
            opt.sparse_step("input_table", torch.from_numpy(table_rows), grad_x)
        opt.sparse_step("Wy", rows_t, grad_w)
        return float(lane.sum()), [h.detach() for h in new_hidden]

    def _zero_offset(self, n_cols: int) -> np.ndarray:
        if len(self._zeros) < n_cols:
            self._zeros = np.zeros(n_cols, np.float32)
        return self._zeros[:n_cols]

    # --- checkpoints ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Model, optimizer, epoch and RNG states as tensors and plain values (torch.load(weights_only=True))."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "mask_rng": self.mask_rng.get_state(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.mask_rng.set_state(state["mask_rng"])
        self.sampler.load_state_dict(state["sampler"])
