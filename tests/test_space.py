"""Space sampling: inclusive bounds, steps, log scale, categoricals, `when:` conditions, PRUNED semantics."""

from __future__ import annotations

import math

import optuna
from _search_util import base_spec

from g4r_tune.config import Hyperparams
from g4r_tune.space import DefineByRun, asha_rungs, describe_space, optuna_final_state, sample_configs
from g4r_tune.spec import parse_spec


def _spec(space: dict, fixed: dict | None = None):
    return parse_spec(base_spec(space=space, fixed=fixed or {}))


def test_int_bounds_are_inclusive_and_follow_step() -> None:
    spec = _spec({"layers": {"type": "int", "low": 8, "high": 24, "step": 8}})
    seen = {c["layers"] for c in sample_configs(spec, 60, seed=1)}
    assert seen == {8, 16, 24}  # tune.randint would never give 24


def test_float_step_bounds_inclusive() -> None:
    spec = _spec({"momentum": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.05}})
    seen = {round(c["momentum"], 9) for c in sample_configs(spec, 60, seed=2)}
    assert seen == {0.0, 0.05, 0.1}


def test_log_float_stays_in_range_and_spreads_over_decades() -> None:
    spec = _spec({"learning_rate": {"type": "float", "low": 0.001, "high": 1.0 - 1e-9, "log": True}})
    values = [c["learning_rate"] for c in sample_configs(spec, 200, seed=3)]
    assert all(0.001 <= v <= 1.0 for v in values)
    decades = {math.floor(math.log10(v)) for v in values}
    assert decades == {-3, -2, -1}  # uniform on the log scale: every decade is hit


def test_categorical_and_fixed_values_are_in_every_config() -> None:
    spec = _spec({"elu_param": {"type": "categorical", "choices": [0.5, 1.0, 0.0]}}, fixed={"loss": "bpr-max"})
    configs = sample_configs(spec, 40, seed=4)
    assert {c["elu_param"] for c in configs} == {0.5, 1.0, 0.0}
    assert all(c["loss"] == "bpr-max" for c in configs)
    for c in configs:  # every sampled config is a valid model config
        Hyperparams.from_mapping(c)


def test_when_samples_conditional_param_only_under_its_condition() -> None:
    spec = parse_spec(base_spec())  # bpreg only when loss == bpr-max
    configs = sample_configs(spec, 50, seed=5)
    assert {c["loss"] for c in configs} == {"bpr-max", "cross-entropy"}
    for c in configs:
        assert ("bpreg" in c) == (c["loss"] == "bpr-max")


def test_when_on_fixed_value() -> None:
    space = {"bpreg": {"type": "float", "low": 1.0, "high": 2.0, "when": {"loss": ["bpr-max", "top1"]}}}
    spec = _spec({**space, "layers": {"type": "int", "low": 8, "high": 16}}, fixed={"loss": "bpr-max"})
    assert all("bpreg" in c for c in sample_configs(spec, 10))


def test_warm_start_points_are_evaluated_first() -> None:
    raw = base_spec()
    raw["search"]["warm_start"] = [{"loss": "bpr-max", "layers": 16, "learning_rate": 0.05, "bpreg": 1.95}]
    spec = parse_spec(raw)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    for point in spec.search.warm_start:
        study.enqueue_trial(dict(point))
    trial = study.ask()
    DefineByRun(spec)(trial)
    assert trial.params == {"loss": "bpr-max", "layers": 16, "learning_rate": 0.05, "bpreg": 1.95}


def test_describe_space_lists_searched_and_fixed() -> None:
    rows = dict(describe_space(parse_spec(base_spec())))
    assert rows["layers"] == "int in [8, 16] step 8"
    assert rows["bpreg"].endswith("when loss in ['bpr-max']")
    assert rows["n_sample"] == "fixed = 16"


def test_optuna_final_state() -> None:
    assert optuna_final_state({"training_iteration": 1}, 5, errored=False) == "PRUNED"
    assert optuna_final_state({"training_iteration": 5}, 5, errored=False) == "COMPLETE"
    assert optuna_final_state({"training_iteration": 5}, 5, errored=True) == "FAIL"
    assert optuna_final_state(None, 5, errored=False) == "PRUNED"


def test_asha_rungs() -> None:
    assert asha_rungs(10, 1, 3) == [1, 3, 9]
    assert asha_rungs(4, 1, 2) == [1, 2]
    assert asha_rungs(3, 3, 2) == []
