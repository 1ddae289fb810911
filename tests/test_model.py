"""GRU4Rec module: interface, initialisation, the GRU update against a hand-written cell, input variants."""

from __future__ import annotations

import math

import pytest
import torch

from g4r_tune.config import Hyperparams
from g4r_tune.model import GRU4Rec


def _manual_gru(x: torch.Tensor, h: torch.Tensor, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    hidden = h.shape[1]
    gi = x @ w_ih + b_ih
    gh = h @ w_hh + b_hh
    r = torch.sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = torch.sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
    n = torch.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
    return (1 - z) * n + z * h


@pytest.mark.parametrize(
    "extra",
    [{}, {"constrained_embedding": False, "embedding": 7}, {"constrained_embedding": False, "embedding": 0}],
    ids=["shared", "separate", "one-hot"],
)
def test_step_matches_manual_gru_and_interface(extra: dict) -> None:
    torch.manual_seed(0)
    params = Hyperparams(layers=(6, 5), **extra)
    model = GRU4Rec(params, n_items=30).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # non-zero biases too
    items = torch.tensor([3, 0, 29, 3])
    hidden = [torch.randn(4, 6), torch.randn(4, 5)]
    out, new_hidden = model.step(items, hidden)
    if model.one_hot:
        gi0 = model.input_table[items] + model.b_ih[0]
        i_hidden = 6
        gh = hidden[0] @ model.W_hh[0] + model.b_hh[0]
        r = torch.sigmoid(gi0[:, :i_hidden] + gh[:, :i_hidden])
        z = torch.sigmoid(gi0[:, i_hidden : 2 * i_hidden] + gh[:, i_hidden : 2 * i_hidden])
        n = torch.tanh(gi0[:, 2 * i_hidden :] + r * gh[:, 2 * i_hidden :])
        h0 = (1 - z) * n + z * hidden[0]
    else:
        x = model.item_input_table()[items]
        h0 = _manual_gru(x, hidden[0], model.W_ih[0], model.W_hh[0], model.b_ih[0], model.b_hh[0])
    h1 = _manual_gru(h0, hidden[1], model.W_ih[1], model.W_hh[1], model.b_ih[1], model.b_hh[1])
    torch.testing.assert_close(new_hidden[0], h0)
    torch.testing.assert_close(out, h1)
    torch.testing.assert_close(new_hidden[1], h1)
    scores = model.score_all(out)
    assert scores.shape == (4, 30)
    wy, by = model.output_weights()
    torch.testing.assert_close(scores, out @ wy.T + by)
    assert [h.shape for h in model.init_hidden(3)] == [(3, 6), (3, 5)]
    assert all(float(h.abs().sum()) == 0 for h in model.init_hidden(3))


def test_initialisation_ranges_per_gate_block() -> None:
    torch.manual_seed(1)
    model = GRU4Rec(Hyperparams(layers=(40,)), n_items=500)
    bound_wy = math.sqrt(6 / (500 + 40))
    assert float(model.Wy.detach().abs().max()) <= bound_wy
    assert float(model.Wy.detach().abs().max()) > 0.9 * bound_wy
    bound_gate = math.sqrt(6 / (40 + 40))  # each (40 x 40) gate block separately, not (40 x 120)
    assert float(model.W_ih[0].abs().max()) <= bound_gate
    assert float(model.W_ih[0].abs().max()) > 0.9 * bound_gate
    assert float(model.W_hh[0][:, 80:].abs().max()) > 0.9 * bound_gate
    assert float(model.By.abs().sum()) == 0 and float(model.b_ih[0].abs().sum()) == 0
    onehot = GRU4Rec(Hyperparams(layers=(40,), constrained_embedding=False), n_items=500)
    assert onehot.input_table.shape == (500, 120)
    assert float(onehot.input_table.abs().max()) <= math.sqrt(6 / (500 + 40))


def test_dropout_only_in_train_mode() -> None:
    torch.manual_seed(2)
    model = GRU4Rec(Hyperparams(layers=(16,), dropout_p_embed=0.5, dropout_p_hidden=0.5), n_items=20)
    items = torch.arange(8)
    model.eval()
    a, _ = model.step(items, model.init_hidden(8))
    b, _ = model.step(items, model.init_hidden(8))
    torch.testing.assert_close(a, b)
    model.train()
    c, _ = model.step(items, model.init_hidden(8))
    assert not torch.allclose(a, c)
    assert float((c == 0).float().mean()) > 0.2  # about half of the hidden outputs are dropped
