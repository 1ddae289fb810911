"""The GRU4Rec network: item input (shared, separate or one-hot), stacked GRU cells, item scores ``h @ Wy.T + By``.

Parameters are plain tensors laid out for the training engine: the item tables (``Wy``, ``By`` and, when not
shared, the input table) are updated row-sparsely by `g4r_tune.optim`, and the GRU weights are stored as
``(in, 3H)`` matrices (gate blocks r, z, n) so that a step is ``x @ W_ih`` without transposes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from g4r_tune.config import Hyperparams


def _uniform_blocks(tensor: Tensor, n_blocks: int) -> None:
    """Uniform ±sqrt(6 / (fan_in + fan_out)) for each of ``n_blocks`` column blocks (one per GRU gate)."""
    rows, cols = tensor.shape
    width = cols // n_blocks
    scale = math.sqrt(6.0 / (rows + width))
    with torch.no_grad():
        for b in range(n_blocks):
            tensor[:, b * width : (b + 1) * width].uniform_(-scale, scale)


class GRU4Rec(nn.Module):
    """GRU4Rec for next-item prediction. See docs/ARCHITECTURE.md ("Model interface")."""

    def __init__(self, params: Hyperparams, n_items: int) -> None:
        super().__init__()
        self.params = params
        self.n_items = int(n_items)
        self.layers: tuple[int, ...] = tuple(params.layers)
        self.constrained = bool(params.constrained_embedding)
        self.embedding_size = params.embedding_size
        # one-hot input: the first layer's input weights are an (n_items, 3H) lookup table
        self.one_hot = not self.constrained and self.embedding_size == 0
        h_last = self.layers[-1]
        self.Wy = nn.Parameter(torch.empty(self.n_items, h_last))
        self.By = nn.Parameter(torch.zeros(self.n_items))
        if self.one_hot:
            self.input_table = nn.Parameter(torch.empty(self.n_items, 3 * self.layers[0]))
        elif self.embedding_size > 0:
            self.input_table = nn.Parameter(torch.empty(self.n_items, self.embedding_size))
        else:
            self.register_parameter("input_table", None)
        in_dim = h_last if self.constrained else self.embedding_size
        self.W_ih = nn.ParameterList()
        self.W_hh = nn.ParameterList()
        self.b_ih = nn.ParameterList()
        self.b_hh = nn.ParameterList()
        for i, size in enumerate(self.layers):
            if i == 0 and self.one_hot:
                self.W_ih.append(nn.Parameter(torch.empty(0, 3 * size)))  # placeholder: input_table plays this role
            else:
                self.W_ih.append(nn.Parameter(torch.empty(in_dim if i == 0 else self.layers[i - 1], 3 * size)))
            self.W_hh.append(nn.Parameter(torch.empty(size, 3 * size)))
            self.b_ih.append(nn.Parameter(torch.zeros(3 * size)))
            self.b_hh.append(nn.Parameter(torch.zeros(3 * size)))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Uniform ±sqrt(6/(fan_in+fan_out)) per weight block (each gate separately); biases zero."""
        _uniform_blocks(self.Wy, 1)
        self.By.zero_()
        if self.input_table is not None:
            _uniform_blocks(self.input_table, 3 if self.one_hot else 1)
        for w_ih, w_hh, b_ih, b_hh in zip(self.W_ih, self.W_hh, self.b_ih, self.b_hh, strict=True):
            if w_ih.numel():
                _uniform_blocks(w_ih, 3)
            _uniform_blocks(w_hh, 3)
            b_ih.zero_()
            b_hh.zero_()

    # --- the interface used by training, evaluation and latency ------------------------------------------

    def init_hidden(self, batch: int, device: torch.device | str | None = None) -> list[Tensor]:
        dev = self.Wy.device if device is None else device
        return [torch.zeros(batch, size, device=dev, dtype=self.Wy.dtype) for size in self.layers]

    def step(self, items: Tensor, hidden: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One GRU step for a batch of lanes; dropout (with fresh random masks) only in train mode."""
        return self.step_from_input(self.item_input_table()[items], hidden)

    def score_all(self, out: Tensor) -> Tensor:
        return torch.addmm(self.By, out, self.Wy.T)

    def output_weights(self) -> tuple[Tensor, Tensor]:
        return self.Wy, self.By

    # --- building blocks for the training engine -----------------------------------------------------------

    def item_input_table(self) -> Tensor:
        """The table whose rows are the lanes' inputs: Wy (shared), the embedding, or the one-hot gate table."""
        return self.Wy if self.input_table is None else self.input_table

    def step_from_input(
        self, x: Tensor, hidden: list[Tensor], masks: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """A step from the gathered input rows ``x`` (B, in) of `item_input_table`.

        ``masks`` are pre-scaled dropout multipliers: ``[embed (B,in or B,1), hidden_0 (B,H0), ...]`` (None
        entries = no dropout). Without ``masks`` in train mode fresh masks are drawn from torch's global RNG.
        The dropped-out layer output is also the carried hidden state (as the reference does).
        """
        if masks is None:
            masks = self.draw_masks(x.shape[0], x.device) if self.training else [None] * (len(self.layers) + 1)
        if masks[0] is not None:
            x = x * masks[0]
        new_hidden: list[Tensor] = []
        for i, h in enumerate(hidden):
            gi = (x + self.b_ih[i]) if (i == 0 and self.one_hot) else torch.addmm(self.b_ih[i], x, self.W_ih[i])
            gh = torch.addmm(self.b_hh[i], h, self.W_hh[i])
            x = gru_cell(gi, gh, h)
            if masks[i + 1] is not None:
                x = x * masks[i + 1]
            new_hidden.append(x)
        return x, new_hidden

    def draw_masks(self, batch: int, device: torch.device | str, generator: torch.Generator | None = None) -> list:
        """Inverted-dropout multipliers for one step (None where the probability is 0)."""
        p_embed, p_hidden = self.params.dropout_p_embed, self.params.dropout_p_hidden
        in_width = 1 if self.one_hot else self.item_input_table().shape[1]  # one-hot: drop the whole input
        masks: list[Tensor | None] = [dropout_mask((batch, in_width), p_embed, device, generator)]
        masks += [dropout_mask((batch, size), p_hidden, device, generator) for size in self.layers]
        return masks


def gru_cell(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """Standard GRU update from the gate pre-activations ``gi = x W_ih + b_ih`` and ``gh = h W_hh + b_hh``."""
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def dropout_mask(
    shape: tuple[int, int], p: float, device: torch.device | str, generator: torch.Generator | None = None
) -> Tensor | None:
    if p <= 0.0:
        return None
    keep = torch.rand(shape, device=device, generator=generator) >= p
    return keep.to(torch.float32) * (1.0 / (1.0 - p))
