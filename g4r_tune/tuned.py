"""The tuned-config YAML: what a search report hands to `g4r-tune train --config`, and the one reader/writer of it.

Format (every key but ``params``/``param_string`` optional; at least one of those two is required)::

    name: rr_bprmax                 # search name
    source: experiments/rr_bprmax   # where it came from (experiment folder, trial id...)
    trial_id: 3f2a_00017
    dataset: retailrocket
    param_string: loss=bpr-max,layers=224,batch_size=80,...   # the reference tools' string, for pasting
    params:                         # Hyperparams fields (reference names); unknown keys are errors
      loss: bpr-max
      layers: [224]
      batch_size: 80
      ...
    metrics: {recall@20: 0.51, mrr@20: 0.22}   # what the trial reached (informational)
    epochs: 10                      # epochs the trial trained (informational; params.n_epochs is what trains)
    notes: free text

When both ``params`` and ``param_string`` are present they must describe the same configuration, so that editing
one and forgetting the other is caught instead of silently training something else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from g4r_tune.config import Hyperparams
from g4r_tune.errors import ConfigError

TUNED_KEYS: tuple[str, ...] = (
    "name",
    "source",
    "trial_id",
    "dataset",
    "param_string",
    "params",
    "metrics",
    "epochs",
    "notes",
)


def parse_tuned_config(document: Any, where: str = "tuned config") -> tuple[Hyperparams, dict[str, Any]]:
    """Validate a loaded YAML document: returns the hyperparameters and the other (informational) keys."""
    if not isinstance(document, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a `params:` key, got {type(document).__name__}")
    unknown = sorted(str(k) for k in document if k not in TUNED_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key `{unknown[0]}`; valid keys are: {', '.join(TUNED_KEYS)}")
    raw_params, param_string = document.get("params"), document.get("param_string")
    if raw_params is None and param_string is None:
        raise ConfigError(f"{where}: needs `params:` (a mapping of hyperparameters) or `param_string:`")
    from_string = None
    if param_string is not None:
        if not isinstance(param_string, str):
            raise ConfigError(f"{where}: param_string must be a string like 'loss=bpr-max,layers=224'")
        try:
            from_string = Hyperparams.from_param_string(param_string)
        except ConfigError as err:
            raise ConfigError(f"{where}: param_string: {err}") from None
    params = from_string
    if raw_params is not None:
        if not isinstance(raw_params, Mapping):
            raise ConfigError(f"{where}: params must be a mapping of hyperparameter names to values")
        try:
            params = Hyperparams.from_mapping(raw_params, path="params")
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        if from_string is not None and from_string != params:
            diff = _differences(params, from_string)
            raise ConfigError(f"{where}: params and param_string disagree on {diff}; fix one or remove param_string")
    metrics = document.get("metrics")
    if metrics is not None and not isinstance(metrics, Mapping):
        raise ConfigError(f"{where}: metrics must be a mapping like {{recall@20: 0.51}}")
    extras = {k: v for k, v in document.items() if k not in ("params", "param_string")}
    assert params is not None
    return params, extras


def load_tuned_config(path: str | os.PathLike) -> tuple[Hyperparams, dict[str, Any]]:
    """Read a tuned-config YAML file (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: tuned config not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read tuned config: {err}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    return parse_tuned_config(document, where=str(path))


def tuned_config_document(params: Hyperparams, **extras: Any) -> dict[str, Any]:
    """The document `load_tuned_config` reads back to ``params`` (extras: the optional keys above)."""
    unknown = sorted(set(extras) - set(TUNED_KEYS) - {"params", "param_string"})
    if unknown:
        raise ConfigError(f"tuned config: unknown key `{unknown[0]}`; valid keys are: {', '.join(TUNED_KEYS)}")
    document: dict[str, Any] = {k: extras[k] for k in TUNED_KEYS if k in extras and extras[k] is not None}
    document["param_string"] = params.to_param_string()
    document["params"] = params.to_dict()
    return document


def write_tuned_config(path: str | os.PathLike, params: Hyperparams, **extras: Any) -> Path:
    """Write a tuned-config YAML that `load_tuned_config` reads back to exactly ``params``."""
    path = Path(path)
    text = yaml.safe_dump(tuned_config_document(params, **extras), sort_keys=False, default_flow_style=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _differences(a: Hyperparams, b: Hyperparams) -> str:
    da, db = a.to_dict(), b.to_dict()
    return ", ".join(f"{k} ({da[k]!r} vs {db[k]!r})" for k in da if da[k] != db[k])
