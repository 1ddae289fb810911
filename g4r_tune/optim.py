"""Adagrad with momentum, dense for the GRU weights and row-sparse for the item tables.

Per element: ``acc += g**2; step = lr * g / sqrt(acc + 1e-6)``; with momentum ``v = m * v + step; p -= v``,
else ``p -= step``. Item tables (Wy, By, input tables) only update the rows a step touched - their accumulators
and velocities too - which is what keeps a step cheap with tens of thousands of items. The CPU fast path calls
the fused in-place kernels of `g4r_tune.kernels`; the torch versions here are the reference (and the GPU path).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

ADAGRAD_EPS = 1e-6
_FIRST_ROW = np.zeros(1, dtype=np.int64)  # row index of a dense tensor viewed as one row


class AdagradMomentum:
    """Optimizer state (``acc`` and, with momentum, ``vel``) for named parameters."""

    def __init__(self, named_params: dict[str, Tensor], lr: float, momentum: float = 0.0, fused: bool = False):
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.params = named_params
        self.acc = {name: torch.zeros_like(p) for name, p in named_params.items()}
        self.vel = {name: torch.zeros_like(p) for name, p in named_params.items()} if self.momentum > 0 else {}
        self.fused = fused and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in named_params.values())
        if self.fused:
            from g4r_tune import kernels

            self._kernels = kernels

    @torch.no_grad()
    def dense_step(self, name: str, grad: Tensor) -> None:
        param, acc = self.params[name], self.acc[name]
        if self.fused:
            # the whole tensor as one row of the sparse row kernel: same arithmetic, one kernel to maintain
            vel = self.vel.get(name, acc)
            self._kernels.adagrad_rows(
                param.view(1, -1).numpy(), acc.view(1, -1).numpy(), vel.view(1, -1).numpy(),
                _FIRST_ROW, grad.contiguous().view(1, -1).numpy(), self.lr, self.momentum,
            )  # fmt: skip
            return
        acc.add_(grad * grad)
        step = grad * self.lr / torch.sqrt(acc + ADAGRAD_EPS)
        if self.momentum > 0:
            vel = self.vel[name]
            vel.mul_(self.momentum).add_(step)
            param.sub_(vel)
        else:
            param.sub_(step)

    @torch.no_grad()
    def sparse_step(self, name: str, rows: Tensor, grad_rows: Tensor) -> None:
        """Update ``param[rows] `` with ``grad_rows`` (rows must be unique; first dim of the table)."""
        param, acc = self.params[name], self.acc[name]
        if self.fused:
            width = param[0].numel() if param.dim() > 1 else 1
            vel = self.vel.get(name, acc)
            self._kernels.adagrad_rows(
                param.view(-1, width).numpy(), acc.view(-1, width).numpy(), vel.view(-1, width).numpy(),
                rows.numpy(), grad_rows.contiguous().view(-1, width).numpy(), self.lr, self.momentum,
            )  # fmt: skip
            return
        acc_rows = acc[rows] + grad_rows * grad_rows
        acc[rows] = acc_rows
        step = grad_rows * self.lr / torch.sqrt(acc_rows + ADAGRAD_EPS)
        if self.momentum > 0:
            vel_rows = self.vel[name][rows] * self.momentum + step
            self.vel[name][rows] = vel_rows
            param[rows] = param[rows] - vel_rows
        else:
            param[rows] = param[rows] - step

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "acc": {k: v.detach().cpu().clone() for k, v in self.acc.items()},
            "vel": {k: v.detach().cpu().clone() for k, v in self.vel.items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for store, saved in ((self.acc, state["acc"]), (self.vel, state["vel"])):
            for name, value in saved.items():
                store[name].copy_(value)
