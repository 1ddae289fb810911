"""Spec validation: one test per error case, each checking the key path and the allowed values in the message."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from _search_util import base_spec

from g4r_tune.errors import ConfigError
from g4r_tune.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]


def _err(raw: dict, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        parse_spec(raw, **kwargs)
    return str(info.value)


def test_valid_spec_resolves_defaults_and_roundtrips(tmp_path: Path) -> None:
    spec = parse_spec(base_spec(storage=str(tmp_path)))
    assert spec.param_names == ["loss", "layers", "learning_rate", "bpreg"]
    assert spec.asha.max_epochs == 3 and spec.search.num_samples == 4 and spec.epoch_budget == 12
    assert spec.experiment_dir() == tmp_path / "t"
    again = parse_spec(yaml.safe_load(yaml.safe_dump(spec.to_dict(), sort_keys=False)))
    assert again == spec


def test_unknown_top_level_key() -> None:
    msg = _err(base_spec(serach={}))
    assert "spec.serach" in msg and "allowed keys" in msg and "search" in msg


def test_unknown_nested_key() -> None:
    msg = _err(base_spec(asha={"max_epoch": 3}))
    assert "asha.max_epoch" in msg and "max_epochs" in msg


def test_unknown_hyperparameter_in_space_and_fixed() -> None:
    raw = base_spec()
    raw["space"]["lr"] = {"type": "float", "low": 0.1, "high": 0.2}
    assert "space.lr" in (msg := _err(raw)) and "learning_rate" in msg
    assert "fixed.bogus" in _err(base_spec(fixed={"bogus": 1}))


def test_unknown_param_key() -> None:
    raw = base_spec()
    raw["space"]["layers"]["hgih"] = 3
    assert "space.layers.hgih" in (msg := _err(raw)) and "high" in msg


def test_low_greater_than_high() -> None:
    raw = base_spec()
    raw["space"]["layers"] = {"type": "int", "low": 64, "high": 32}
    msg = _err(raw)
    assert "space.layers.low" in msg and "64" in msg and "<= high (32)" in msg


def test_log_range_must_be_positive() -> None:
    raw = base_spec()
    raw["space"]["learning_rate"] = {"type": "float", "low": 0.0, "high": 0.1, "log": True}
    msg = _err(raw)
    assert "space.learning_rate.low" in msg and "> 0" in msg


def test_step_must_divide_range() -> None:
    raw = base_spec()
    raw["space"]["layers"] = {"type": "int", "low": 8, "high": 20, "step": 8}
    assert "space.layers.high" in _err(raw)


def test_bad_type_and_bad_choices() -> None:
    raw = base_spec()
    raw["space"]["layers"] = {"type": "integer", "low": 8, "high": 16}
    assert "space.layers.type" in (msg := _err(raw)) and "int, float, categorical" in msg
    raw = base_spec()
    raw["space"]["loss"] = {"type": "categorical", "choices": ["bpr-max", "hinge"]}
    msg = _err(raw)
    assert "space.loss" in msg and "hinge" in msg and "cross-entropy" in msg
    raw["space"]["loss"] = {"type": "categorical", "choices": []}
    assert "space.loss.choices" in _err(raw)


def test_bound_outside_hyperparameter_range() -> None:
    raw = base_spec()
    raw["space"]["momentum"] = {"type": "float", "low": 0.0, "high": 1.0}
    msg = _err(raw)
    assert "space.momentum" in msg and "[0, 1)" in msg


def test_missing_files(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("SessionId\tItemId\tTime\n")
    raw = base_spec(data={"train": str(tmp_path / "train.tsv"), "valid": str(tmp_path / "nope.tsv")})
    msg = _err(raw)
    assert "data.valid" in msg and "nope.tsv" in msg and "does not exist" in msg
    assert parse_spec(raw, check_files=False).data.valid == (tmp_path / "nope.tsv").resolve()
    assert "data.valid: missing" in _err(base_spec(data={"train": str(tmp_path / "train.tsv")}))


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "none.yaml")


def test_bad_synthetic_settings() -> None:
    msg = _err(base_spec(data={"synthetic": {"n_items": 200, "days": 1}}))
    assert "data.synthetic" in msg and "days" in msg


def test_metric_not_produced() -> None:
    msg = _err(base_spec(metric="ndcg@20"))
    assert "metric" in msg and "recall@20" in msg and "mrr@5" in msg
    assert "recall@50" in _err(base_spec(metric="recall@50"))


def test_when_on_unknown_parameter() -> None:
    raw = base_spec()
    raw["space"]["bpreg"]["when"] = {"los": "bpr-max"}
    msg = _err(raw)
    assert "space.bpreg.when.los" in msg and "unknown parameter" in msg and "loss" in msg


def test_when_value_not_possible() -> None:
    raw = base_spec()
    raw["space"]["bpreg"]["when"] = {"loss": "bpr_max"}
    msg = _err(raw)
    assert "space.bpreg.when.loss" in msg and "bpr-max" in msg


def test_fixed_and_searched_conflict_and_n_epochs() -> None:
    assert "space.layers: also set in fixed" in _err(base_spec(fixed={"layers": 100}))
    assert "asha.max_epochs" in _err(base_spec(fixed={"n_epochs": 3}))


def test_warm_start_out_of_space() -> None:
    raw = copy.deepcopy(base_spec())
    raw["search"]["warm_start"] = [{"layers": 8, "learning_rate": 0.5}]
    msg = _err(raw)
    assert "search.warm_start[0].learning_rate" in msg and "[0.01, 0.2]" in msg
    raw["search"]["warm_start"] = [{"loss": "cross-entropy", "bpreg": 1.5}]
    assert "search.warm_start[0].bpreg" in _err(raw)


def test_asha_settings() -> None:
    assert "asha.grace_period" in _err(base_spec(asha={"max_epochs": 2, "grace_period": 3}))
    assert "asha.reduction_factor" in _err(base_spec(asha={"reduction_factor": 1}))


def test_storage_uri_rejected() -> None:
    assert "storage" in _err(base_spec(storage="s3://bucket/x"))


@pytest.mark.parametrize("path", sorted((REPO / "search_spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_spaces_are_valid(path: Path) -> None:
    spec = load_spec(path, check_files=False)
    assert spec.space and spec.metric.endswith("@20")
