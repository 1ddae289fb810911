"""Trainer: both engines agree, every loss learns, seeded runs repeat, checkpoints resume exactly."""

from __future__ import annotations

import pytest
import torch
from _core_util import markov_sessions, next_item_recall, popularity_recall

from g4r_tune.config import Hyperparams, RuntimeConfig
from g4r_tune.errors import ConfigError, TrainingDiverged
from g4r_tune.train import Trainer

LOSSES = ["cross-entropy", "bpr-max", "top1", "top1-max", "bpr"]


@pytest.fixture(scope="module")
def train_data():
    return markov_sessions(n_sessions=700, seed=0)


@pytest.fixture(scope="module")
def small_data():
    return markov_sessions(n_items=150, n_sessions=250, seed=2)


@pytest.fixture(scope="module")
def test_data():
    return markov_sessions(n_sessions=150, seed=1)


def _params(**kw) -> Hyperparams:
    base = dict(layers=(24,), batch_size=16, n_sample=40, n_epochs=1, learning_rate=0.1, momentum=0.3)
    base.update(kw)
    return Hyperparams(**base)


@pytest.mark.parametrize(
    "extra",
    [
        {"loss": "bpr-max", "dropout_p_embed": 0.3, "dropout_p_hidden": 0.1, "sample_alpha": 0.4},
        {"loss": "cross-entropy", "logq": 1.0, "momentum": 0.0},
        {"loss": "cross-entropy", "dropout_p_hidden": 0.2},
        {"loss": "top1"},
        {"loss": "top1-max", "layers": (16, 12)},
        {"loss": "bpr", "elu_param": 0.0},
        {"loss": "cross-entropy", "constrained_embedding": False, "embedding": 10, "dropout_p_embed": 0.2},
        {"loss": "bpr-max", "constrained_embedding": False, "embedding": 0, "dropout_p_embed": 0.2},
        {"loss": "bpr-max", "n_sample": 0},
    ],
    ids=[
        "bprmax-drop",
        "xe-logq",
        "xe",
        "top1",
        "top1max-2layers",
        "bpr",
        "xe-separate",
        "bprmax-onehot",
        "no-samples",
    ],
)
def test_fast_engine_matches_reference(small_data, extra: dict) -> None:
    params = _params(**extra)
    fast = Trainer(params, small_data, RuntimeConfig(seed=3), engine="fast")
    ref = Trainer(params, small_data, RuntimeConfig(seed=3), engine="reference")
    assert fast.fast and not ref.fast
    s_fast, s_ref = fast.train_epoch(), ref.train_epoch()
    assert s_fast.n_batches == s_ref.n_batches > 50
    assert s_fast.loss == pytest.approx(s_ref.loss, rel=1e-4)
    for (name, a), (_, b) in zip(fast.model.named_parameters(), ref.model.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=2e-3, atol=2e-4, msg=name)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_learns_far_above_popularity(train_data, test_data, loss: str) -> None:
    params = _params(loss=loss, layers=(48,), n_epochs=3, learning_rate=0.1, n_sample=64, batch_size=32)
    trainer = Trainer(params, train_data, RuntimeConfig(seed=0, threads=1))
    history = trainer.fit()
    assert [s.epoch for s in history] == [1, 2, 3]
    assert history[-1].loss < 0.9 * history[0].loss
    recall = next_item_recall(trainer.model, test_data)
    popular = popularity_recall(train_data, test_data)
    assert recall > popular + 0.3, (recall, popular)


def test_seeded_runs_repeat_and_seeds_matter(small_data) -> None:
    params = _params(loss="bpr-max", dropout_p_embed=0.2)
    a = Trainer(params, small_data, RuntimeConfig(seed=11))
    b = Trainer(params, small_data, RuntimeConfig(seed=11))
    c = Trainer(params, small_data, RuntimeConfig(seed=12))
    for t in (a, b, c):
        t.train_epoch()
    assert torch.equal(a.model.Wy, b.model.Wy) and torch.equal(a.model.W_hh[0], b.model.W_hh[0])
    assert not torch.equal(a.model.Wy, c.model.Wy)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_checkpoint_resume_equals_uninterrupted(small_data, tmp_path, engine: str) -> None:
    params = _params(loss="bpr-max", dropout_p_embed=0.2, n_epochs=2)
    full = Trainer(params, small_data, RuntimeConfig(seed=5), engine=engine)
    full.fit()
    first = Trainer(params, small_data, RuntimeConfig(seed=5), engine=engine)
    first.train_epoch()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(params, small_data, RuntimeConfig(seed=99), engine=engine)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.epoch == 1
    history = resumed.fit()
    assert [s.epoch for s in history] == [2]
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters(), strict=True):
        assert torch.equal(a, b), name


def test_diverging_training_names_epoch_and_step(small_data) -> None:
    trainer = Trainer(_params(), small_data)
    with torch.no_grad():
        trainer.model.W_hh[0].fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as err:
        trainer.train_epoch()
    assert err.value.epoch == 1 and err.value.step == 1
    assert "epoch 1" in str(err.value)


def test_fit_stops_when_callback_says_so_and_reports_progress(small_data) -> None:
    trainer = Trainer(_params(n_epochs=5), small_data, RuntimeConfig(threads=1))
    seen: list[tuple[int, int]] = []
    stats = trainer.train_epoch(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (small_data.n_predictions, small_data.n_predictions)
    assert stats.events_per_second > 0 and stats.seconds > 0
    history = trainer.fit(on_epoch=lambda s: s.epoch >= 3)
    assert [s.epoch for s in history] == [2, 3] and trainer.epoch == 3


def test_bad_engine_and_missing_cuda_are_config_errors(small_data) -> None:
    with pytest.raises(ConfigError):
        Trainer(_params(), small_data, engine="turbo")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            Trainer(_params(), small_data, RuntimeConfig(device="cuda"))
