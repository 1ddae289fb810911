"""Tuned-config YAML: round trip, and errors naming the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from g4r_tune.config import Hyperparams
from g4r_tune.errors import ConfigError
from g4r_tune.tuned import load_tuned_config, write_tuned_config

TUNED = Hyperparams.from_param_string(
    "loss=bpr-max,layers=224,batch_size=80,dropout_p_embed=0.5,dropout_p_hidden=0.05,learning_rate=0.05,"
    "momentum=0.4,n_sample=2048,sample_alpha=0.4,bpreg=1.95,elu_param=0.5"
)


def test_written_config_reads_back_to_the_same_params(tmp_path: Path) -> None:
    path = write_tuned_config(
        tmp_path / "t.yaml", TUNED, name="rr", source="exp/rr", metrics={"recall@20": 0.5}, epochs=7
    )
    params, extras = load_tuned_config(path)
    assert params == TUNED
    assert extras == {"name": "rr", "source": "exp/rr", "metrics": {"recall@20": 0.5}, "epochs": 7}
    assert "param_string: loss=bpr-max" in path.read_text()


def test_hand_written_params_only_and_string_only(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("params:\n  loss: cross-entropy\n  layers: [100, 100]\n  constrained_embedding: false\n")
    params, extras = load_tuned_config(path)
    assert params.layers == (100, 100) and not params.constrained_embedding and extras == {}
    path.write_text("param_string: 'loss=top1,layers=64/32,embedding=layersize'\n")
    assert load_tuned_config(path)[0].embedding == "layersize"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("params:\n  loss: bpr-max\n  layerz: 3\n", "params.layerz: unknown hyperparameter; valid names are"),
        ("params:\n  loss: nope\n", "loss"),
        ("params:\n  batch_size: 0\n", "must be >= 1"),
        ("paramz:\n  loss: bpr-max\n", "unknown key `paramz`; valid keys are"),
        ("name: x\n", "needs `params:`"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("params: [1, 2]\n", "params must be a mapping"),
        ("params: {loss: bpr-max}\nparam_string: loss=top1\n", "disagree on loss"),
        ("param_string: loss=top1,foo=1\n", "foo"),
        ("params: {loss: bpr-max\n", "invalid YAML"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_tuned_config(path)


def test_missing_file_and_unknown_extra(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_tuned_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="unknown key `score`"):
        write_tuned_config(tmp_path / "x.yaml", TUNED, score=1.0)
