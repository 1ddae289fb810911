"""SearchSpec -> Optuna define-by-run space (pure: no Ray). Bounds stay inclusive, as Optuna's distributions are.

Also the rule that decides how a finished trial is told to Optuna, so it can be tested without Ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from g4r_tune.spec import ParamSpec, SearchSpec


class DefineByRun:
    """Callable for ``OptunaSearch(space=...)``: samples the active parameters, returns the fixed ones as constants.

    A class (not a closure) so that Ray can pickle it into the searcher's checkpoint.
    """

    def __init__(self, spec: SearchSpec) -> None:
        # unconditional parameters first, so that every `when:` sees the value it tests
        self.params: tuple[ParamSpec, ...] = tuple(sorted(spec.space, key=lambda p: bool(p.when)))
        self.fixed: dict[str, Any] = dict(spec.fixed)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.fixed)
        for param in self.params:
            if param.active(values):
                values[param.name] = suggest(trial, param)
        return dict(self.fixed)  # sampled values are captured by OptunaSearch; constants are added to the config


def suggest(trial: optuna.Trial, param: ParamSpec) -> Any:
    """One Optuna suggestion for ``param`` (inclusive bounds; step or log as the spec says)."""
    if param.type == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.type == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log)
    return trial.suggest_float(param.name, float(param.low), float(param.high), step=param.step, log=param.log)


def sample_configs(spec: SearchSpec, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` configs drawn at random from the space (fixed values included): for dry runs and tests."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = DefineByRun(spec)
    out = []
    for _ in range(n):
        trial = study.ask()
        constants = space(trial)
        out.append({**constants, **trial.params})
        study.tell(trial, 0.0)
    return out


def describe_space(spec: SearchSpec) -> list[tuple[str, str]]:
    """(name, human description) rows for the resolved space, fixed values included."""
    rows = [(p.name, p.describe()) for p in spec.space]
    rows += [(name, f"fixed = {value!r}") for name, value in spec.fixed.items()]
    return rows


def optuna_final_state(last_result: Mapping[str, Any] | None, max_epochs: int, errored: bool) -> str:
    """How a finished trial is told to Optuna: "FAIL", "PRUNED" (ASHA stopped it early) or "COMPLETE".

    Stock OptunaSearch says COMPLETE for early-stopped trials, so TPE would learn from truncated scores as if final.
    """
    if errored:
        return "FAIL"
    if not last_result:
        return "PRUNED"
    if int(last_result.get("training_iteration", 0)) < max_epochs:
        return "PRUNED"
    return "COMPLETE"


def asha_rungs(max_epochs: int, grace_period: int, reduction_factor: int) -> list[int]:
    """Epochs at which ASHA compares trials (grace * rf^k below max_epochs)."""
    rungs, t = [], grace_period
    while t < max_epochs:
        rungs.append(t)
        t *= reduction_factor
    return rungs
