"""Frozen, typed configuration objects and the one place that builds them from dicts / parameter strings.

GRU4Rec hyperparameters keep the reference implementation's names so that users can paste their
``loss=bpr-max,layers=224,...`` strings; every value is validated here, with the allowed range in the message.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from g4r_tune.errors import ConfigError, must_be

LOSSES: tuple[str, ...] = ("cross-entropy", "bpr-max", "top1", "top1-max", "bpr")
TIE_MODES: tuple[str, ...] = ("conservative", "standard", "median")
DEVICES: tuple[str, ...] = ("cpu", "cuda", "auto")

TieMode = Literal["conservative", "standard", "median"]


@dataclass(frozen=True)
class Hyperparams:
    """GRU4Rec hyperparameters (the reference's names and defaults)."""

    loss: str = "cross-entropy"
    layers: tuple[int, ...] = (100,)
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 0.05
    momentum: float = 0.0
    dropout_p_embed: float = 0.0
    dropout_p_hidden: float = 0.0
    n_sample: int = 2048
    sample_alpha: float = 0.5
    embedding: int | str = 0  # 0 (none / shared), k > 0, or "layersize"
    constrained_embedding: bool = True
    bpreg: float = 1.0
    elu_param: float = 0.5
    logq: float = 0.0

    def __post_init__(self) -> None:
        _validate_hyperparams(self)

    @property
    def embedding_size(self) -> int:
        """Width of a separate input embedding table (0 = none: shared or one-hot input)."""
        if self.constrained_embedding:
            return 0
        if self.embedding == "layersize":
            return self.layers[0]
        return int(self.embedding)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], path: str = "params") -> Hyperparams:
        """Build from a dict (YAML / Ray config). Unknown keys are errors naming the key path."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"{path}.{unknown[0]}: unknown hyperparameter; valid names are: {', '.join(sorted(names))}"
            )
        kwargs = {k: _coerce(k, v, f"{path}.{k}") for k, v in values.items()}
        try:
            return cls(**kwargs)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    @classmethod
    def from_param_string(cls, text: str) -> Hyperparams:
        """Parse the reference tools' ``name=value,name=value`` string (lists joined with ``/``)."""
        values: dict[str, str] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if "=" not in part:
                raise ConfigError(f"parameter string: {part!r} is not of the form name=value")
            key, _, value = part.partition("=")
            values[key.strip()] = value.strip()
        return cls.from_mapping(values, path="params")

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON friendly dict (layers as a list)."""
        out = dataclasses.asdict(self)
        out["layers"] = list(self.layers)
        return out

    def to_param_string(self) -> str:
        """The equivalent reference parameter string (``loss=bpr-max,layers=224,...``)."""
        parts = []
        for key, value in self.to_dict().items():
            if isinstance(value, bool):
                text = "True" if value else "False"
            elif isinstance(value, list):
                text = "/".join(str(v) for v in value)
            else:
                text = str(value)
            parts.append(f"{key}={text}")
        return ",".join(parts)

    def replace(self, **changes: Any) -> Hyperparams:
        return Hyperparams.from_mapping({**self.to_dict(), **changes})


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how to run: not part of the model, not searched."""

    device: str = "cpu"
    threads: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(must_be("device", self.device, f"one of {', '.join(DEVICES)} or cuda:N"))
        if self.threads is not None and self.threads < 1:
            raise ConfigError(must_be("threads", self.threads, ">= 1"))


@dataclass(frozen=True)
class EvalConfig:
    """Next-item evaluation settings."""

    cutoffs: tuple[int, ...] = (1, 5, 10, 20)
    ties: str = "conservative"
    batch_size: int = 512

    def __post_init__(self) -> None:
        if not self.cutoffs or any(int(k) < 1 for k in self.cutoffs):
            raise ConfigError(must_be("cutoffs", list(self.cutoffs), "a non-empty list of integers >= 1"))
        if self.ties not in TIE_MODES:
            raise ConfigError(must_be("ties", self.ties, f"one of {', '.join(TIE_MODES)}"))
        if self.batch_size < 1:
            raise ConfigError(must_be("batch_size", self.batch_size, ">= 1"))
        object.__setattr__(self, "cutoffs", tuple(sorted({int(k) for k in self.cutoffs})))


# --- validation helpers -------------------------------------------------------------------------------

_FIELD_TYPES: dict[str, str] = {
    "loss": "str",
    "layers": "layers",
    "batch_size": "int",
    "n_epochs": "int",
    "learning_rate": "float",
    "momentum": "float",
    "dropout_p_embed": "float",
    "dropout_p_hidden": "float",
    "n_sample": "int",
    "sample_alpha": "float",
    "embedding": "embedding",
    "constrained_embedding": "bool",
    "bpreg": "float",
    "elu_param": "float",
    "logq": "float",
}


def _coerce(name: str, value: Any, path: str) -> Any:
    """Turn strings (parameter strings, CLI) and YAML scalars into the field's type."""
    kind = _FIELD_TYPES[name]
    try:
        if kind == "str":
            return str(value).strip()
        if kind == "int":
            return _as_int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return _as_bool(value)
        if kind == "layers":
            if isinstance(value, str):
                return tuple(_as_int(v) for v in value.replace(" ", "").split("/") if v)
            if isinstance(value, int | float):
                return (_as_int(value),)
            return tuple(_as_int(v) for v in value)
        if kind == "embedding":
            if isinstance(value, str) and value.strip().lower() == "layersize":
                return "layersize"
            return _as_int(value)
    except (TypeError, ValueError):
        pass
    expected = {
        "layers": "an int or sizes joined with '/', e.g. 100/100",
        "embedding": "an int >= 0 or 'layersize'",
        "bool": "True or False",
        "int": "an integer",
        "float": "a number",
    }.get(kind, f"a {kind}")
    raise ConfigError(f"{path}: {must_be(name, value, expected)}")


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool is not an int")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    return int(str(value).strip())


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError("not a bool")


def _check(ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(must_be(name, value, rule))


def _validate_hyperparams(h: Hyperparams) -> None:
    _check(h.loss in LOSSES, "loss", h.loss, f"one of {', '.join(LOSSES)}")
    _check(
        len(h.layers) > 0 and all(isinstance(s, int) and s >= 1 for s in h.layers),
        "layers",
        list(h.layers),
        "one or more sizes >= 1",
    )
    _check(h.batch_size >= 1, "batch_size", h.batch_size, ">= 1")
    _check(h.n_epochs >= 1, "n_epochs", h.n_epochs, ">= 1")
    _check(math.isfinite(h.learning_rate) and h.learning_rate > 0, "learning_rate", h.learning_rate, "> 0")
    _check(0.0 <= h.momentum < 1.0, "momentum", h.momentum, "in [0, 1)")
    _check(0.0 <= h.dropout_p_embed < 1.0, "dropout_p_embed", h.dropout_p_embed, "in [0, 1)")
    _check(0.0 <= h.dropout_p_hidden < 1.0, "dropout_p_hidden", h.dropout_p_hidden, "in [0, 1)")
    _check(h.n_sample >= 0, "n_sample", h.n_sample, ">= 0")
    _check(0.0 <= h.sample_alpha <= 1.0, "sample_alpha", h.sample_alpha, "in [0, 1]")
    _check(
        h.embedding == "layersize" or (isinstance(h.embedding, int) and h.embedding >= 0),
        "embedding",
        h.embedding,
        "an int >= 0 or 'layersize'",
    )
    _check(h.bpreg >= 0.0, "bpreg", h.bpreg, ">= 0")
    _check(h.elu_param >= 0.0, "elu_param", h.elu_param, ">= 0")
    _check(h.logq >= 0.0, "logq", h.logq, ">= 0")


def hyperparam_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Hyperparams)]


__all__ = [
    "LOSSES",
    "TIE_MODES",
    "EvalConfig",
    "Hyperparams",
    "RuntimeConfig",
    "hyperparam_names",
]
