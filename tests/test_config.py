from __future__ import annotations

import pytest

from g4r_tune.config import EvalConfig, Hyperparams, RuntimeConfig
from g4r_tune.errors import ConfigError


def test_param_string_round_trip() -> None:
    h = Hyperparams.from_param_string(
        "loss=bpr-max,layers=100/100,batch_size=80,constrained_embedding=False,embedding=layersize,momentum=0.4"
    )
    assert h.layers == (100, 100)
    assert h.batch_size == 80
    assert h.constrained_embedding is False
    assert h.embedding_size == 100
    assert Hyperparams.from_param_string(h.to_param_string()) == h
    assert Hyperparams.from_mapping(h.to_dict()) == h


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lr=0.1", "unknown hyperparameter; valid names are"),
        ("layers=a", "sizes joined with '/'"),
        ("momentum=1.5", "in [0, 1)"),
        ("batch_size=1.5", "an integer"),
        ("loss=hinge", "one of cross-entropy"),
        ("constrained_embedding=maybe", "True or False"),
        ("learning_rate=0", "> 0"),
        ("novalue", "name=value"),
    ],
)
def test_bad_param_strings_name_the_rule(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        Hyperparams.from_param_string(text)
    assert fragment in str(info.value)


def test_constrained_embedding_wins_over_embedding_width() -> None:
    assert Hyperparams(embedding=64, constrained_embedding=True).embedding_size == 0
    assert Hyperparams(embedding=64, constrained_embedding=False).embedding_size == 64


def test_runtime_and_eval_configs_validate() -> None:
    with pytest.raises(ConfigError, match="device"):
        RuntimeConfig(device="tpu")
    with pytest.raises(ConfigError, match="ties"):
        EvalConfig(ties="random")
    assert EvalConfig(cutoffs=(20, 5, 5)).cutoffs == (5, 20)
