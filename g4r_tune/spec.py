"""Search spec YAML -> one frozen, validated ``SearchSpec``; every check runs here, before Ray starts.

Errors name the key path (``space.momentum.high``) and the allowed values, using ``errors.must_be``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from g4r_tune.config import Hyperparams, hyperparam_names
from g4r_tune.data.synthetic import SynthConfig
from g4r_tune.errors import ConfigError, must_be

REPORTED_CUTOFFS: tuple[int, ...] = (1, 5, 10, 20)  # the trainable reports recall@K / mrr@K for these K
PARAM_TYPES: tuple[str, ...] = ("int", "float", "categorical")
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "train_full", "test")
SYNTH_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SynthConfig))
_TOP_KEYS = ("name", "data", "fixed", "space", "metric", "search", "asha", "resources", "ray", "storage", "report")
_REQUIRED_TOP = ("name", "data", "space", "metric")


@dataclass(frozen=True)
class DataSpec:
    """Either four split files (train/valid required, train_full/test optional) or synthetic data."""

    train: Path | None = None
    valid: Path | None = None
    train_full: Path | None = None
    test: Path | None = None
    synthetic: SynthConfig | None = None


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter. Bounds are inclusive; ``when`` maps other params to allowed values."""

    name: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter is sampled, given the values decided so far (fixed + sampled)."""
        return all(name in values and values[name] in allowed for name, allowed in self.when)

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.type == "int" and not float(value).is_integer():
            return False
        assert self.low is not None and self.high is not None
        if not (self.low <= value <= self.high):
            return False
        if self.step:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True

    def describe(self) -> str:
        if self.type == "categorical":
            text = f"one of {list(self.choices)}"
        else:
            text = f"{self.type} in [{self.low}, {self.high}]"
            text += f" step {self.step}" if self.step else ""
            text += " (log)" if self.log else ""
        if self.when:
            text += " when " + ", ".join(f"{k} in {list(v)}" for k, v in self.when)
        return text


@dataclass(frozen=True)
class SearchSettings:
    num_samples: int = 16
    max_concurrent: int = 2
    seed: int = 7
    warm_start: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class AshaSpec:
    max_epochs: int = 10
    grace_period: int = 1
    reduction_factor: int = 3


@dataclass(frozen=True)
class ResourcesSpec:
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0


@dataclass(frozen=True)
class RaySpec:
    address: str | None = None  # None = a local Ray started by us; "auto" / "host:port" / "ray://..." = connect


@dataclass(frozen=True)
class LatencySpec:
    p99_budget_ms: float = 100.0


@dataclass(frozen=True)
class FinalCheckSpec:
    seeds: int = 3  # seeds per config of the report's retrain on train_full / evaluation on test


@dataclass(frozen=True)
class ReportSpec:
    top_k: int = 3
    latency: LatencySpec = LatencySpec()
    final: FinalCheckSpec = FinalCheckSpec()


@dataclass(frozen=True)
class SearchSpec:
    name: str
    data: DataSpec
    fixed: Mapping[str, Any]
    space: tuple[ParamSpec, ...]
    metric: str
    search: SearchSettings = SearchSettings()
    asha: AshaSpec = AshaSpec()
    resources: ResourcesSpec = ResourcesSpec()
    ray: RaySpec = RaySpec()
    storage: str = "./ray_results"
    report: ReportSpec = ReportSpec()

    mode: str = "max"  # every metric we produce is higher-is-better

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.space]

    @property
    def epoch_budget(self) -> int:
        """Epochs if no trial were stopped early (what random search without ASHA would train)."""
        return self.search.num_samples * self.asha.max_epochs

    def experiment_dir(self) -> Path:
        return Path(self.storage) / self.name

    def with_overrides(self, **changes: Any) -> SearchSpec:
        """Apply CLI overrides (``num_samples``, ``max_concurrent``, ``address``, ``storage``), re-validated."""
        search, ray, storage = self.search, self.ray, self.storage
        if changes.get("num_samples") is not None:
            _positive_int(changes["num_samples"], "--num-samples")
            search = dataclasses.replace(search, num_samples=int(changes["num_samples"]))
        if changes.get("max_concurrent") is not None:
            search = dataclasses.replace(search, max_concurrent=int(changes["max_concurrent"]))
        if changes.get("address") is not None:
            ray = RaySpec(address=str(changes["address"]))
        if changes.get("storage") is not None:
            storage = _storage(changes["storage"], "--storage")
        return dataclasses.replace(self, search=search, ray=ray, storage=storage)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain YAML-friendly data (paths absolute, defaults filled in)."""
        data: dict[str, Any] = {}
        if self.data.synthetic is not None:
            data["synthetic"] = dataclasses.asdict(self.data.synthetic)
        for split in SPLIT_NAMES:
            path = getattr(self.data, split)
            if path is not None:
                data[split] = str(path)
        space: dict[str, Any] = {}
        for p in self.space:
            entry: dict[str, Any] = {"type": p.type}
            if p.type == "categorical":
                entry["choices"] = list(p.choices)
            else:
                entry.update(low=p.low, high=p.high)
                if p.step:
                    entry["step"] = p.step
                if p.log:
                    entry["log"] = True
            if p.when:
                entry["when"] = {k: (list(v) if len(v) > 1 else v[0]) for k, v in p.when}
            space[p.name] = entry
        return {
            "name": self.name,
            "data": data,
            "fixed": dict(self.fixed),
            "space": space,
            "metric": self.metric,
            "search": {**dataclasses.asdict(self.search), "warm_start": [dict(w) for w in self.search.warm_start]},
            "asha": dataclasses.asdict(self.asha),
            "resources": dataclasses.asdict(self.resources),
            "ray": dataclasses.asdict(self.ray),
            "storage": self.storage,
            "report": dataclasses.asdict(self.report),
        }


# --- the one builder ----------------------------------------------------------------------------------


def load_spec(path: str | Path, *, check_files: bool = True) -> SearchSpec:
    """Read and validate a spec file. Relative data paths resolve against the current directory."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search spec {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_spec(raw, check_files=check_files)


def parse_spec(raw: Any, *, check_files: bool = True, base_dir: Path | None = None) -> SearchSpec:
    """Validate a spec mapping into a ``SearchSpec``; raises ``ConfigError`` naming the key path."""
    top = _mapping(raw, "spec", _TOP_KEYS)
    for key in _REQUIRED_TOP:
        if key not in top:
            raise ConfigError(f"spec.{key}: missing; a spec needs {', '.join(_REQUIRED_TOP)}")
    name = str(top["name"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(must_be("name", name, "letters, digits, '_', '.', '-' (it names the experiment folder)"))
    fixed = _fixed(top.get("fixed") or {})
    space = _space(top["space"], fixed)
    asha = _build(AshaSpec, top.get("asha") or {}, "asha")
    _positive_int(asha.max_epochs, "asha.max_epochs")
    _positive_int(asha.grace_period, "asha.grace_period")
    if asha.grace_period > asha.max_epochs:
        raise ConfigError(must_be("asha.grace_period", asha.grace_period, f"<= asha.max_epochs ({asha.max_epochs})"))
    if not isinstance(asha.reduction_factor, int) or asha.reduction_factor < 2:
        raise ConfigError(must_be("asha.reduction_factor", asha.reduction_factor, "an integer >= 2"))
    search = _search(top.get("search") or {}, space, fixed)
    resources = _build(ResourcesSpec, top.get("resources") or {}, "resources")
    if not isinstance(resources.cpus_per_trial, int | float) or resources.cpus_per_trial <= 0:
        raise ConfigError(must_be("resources.cpus_per_trial", resources.cpus_per_trial, "> 0"))
    if not isinstance(resources.gpus_per_trial, int | float) or resources.gpus_per_trial < 0:
        raise ConfigError(must_be("resources.gpus_per_trial", resources.gpus_per_trial, ">= 0"))
    ray = _build(RaySpec, top.get("ray") or {}, "ray")
    if ray.address is not None and not isinstance(ray.address, str):
        raise ConfigError(must_be("ray.address", ray.address, 'null (local), "auto", "host:port" or "ray://host:port"'))
    report_raw = dict(_mapping(top.get("report") or {}, "report", ("top_k", "latency", "final")))
    latency = _build(LatencySpec, report_raw.pop("latency", None) or {}, "report.latency")
    final = _build(FinalCheckSpec, report_raw.pop("final", None) or {}, "report.final")
    report = ReportSpec(latency=latency, final=final, **report_raw)
    _positive_int(report.top_k, "report.top_k")
    _positive_int(final.seeds, "report.final.seeds")
    if not isinstance(latency.p99_budget_ms, int | float) or latency.p99_budget_ms <= 0:
        raise ConfigError(must_be("report.latency.p99_budget_ms", latency.p99_budget_ms, "> 0"))
    return SearchSpec(
        name=name,
        data=_data(top["data"], check_files, base_dir),
        fixed=fixed,
        space=space,
        metric=_metric(top["metric"]),
        search=search,
        asha=asha,
        resources=resources,
        ray=ray,
        storage=_storage(top.get("storage", "./ray_results"), "storage"),
        report=report,
    )


def _mapping(value: Any, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be a mapping with keys {', '.join(allowed)}, not {value!r}")
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}: unknown key; allowed keys are: {', '.join(allowed)}")
    return value


def _build(cls: type, raw: Any, path: str) -> Any:
    names = tuple(f.name for f in dataclasses.fields(cls))
    values = _mapping(raw, path, names)
    return cls(**values)


def _positive_int(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(must_be(path, value, "an integer >= 1"))


def _storage(value: Any, path: str) -> str:
    text = str(value)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(must_be(path, text, "a local or shared (NFS) directory path; URIs are not supported yet"))
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


def _metric(value: Any) -> str:
    produced = [f"{m}@{k}" for m in ("recall", "mrr") for k in REPORTED_CUTOFFS]
    if value not in produced:
        raise ConfigError(must_be("metric", value, f"a metric the trainable reports: one of {', '.join(produced)}"))
    return str(value)


def _fixed(raw: Any) -> dict[str, Any]:
    names = tuple(hyperparam_names())
    values = _mapping(raw, "fixed", names)
    if "n_epochs" in values:
        raise ConfigError("fixed.n_epochs: not allowed; the epoch budget is asha.max_epochs")
    Hyperparams.from_mapping(values, path="fixed")  # type and range checks
    return dict(values)


def _space(raw: Any, fixed: Mapping[str, Any]) -> tuple[ParamSpec, ...]:
    names = tuple(n for n in hyperparam_names() if n != "n_epochs")
    entries = _mapping(raw, "space", names)
    if not entries:
        raise ConfigError("space: must define at least one searched hyperparameter")
    params = []
    for name, entry in entries.items():
        if name in fixed:
            raise ConfigError(f"space.{name}: also set in fixed; a hyperparameter is either fixed or searched")
        params.append(_param(name, entry, f"space.{name}"))
    known = {p.name: p for p in params}
    for p in params:
        for cond, allowed in p.when:
            path = f"space.{p.name}.when.{cond}"
            if cond == p.name or (cond not in known and cond not in fixed):
                choices = sorted(set(known) - {p.name} | set(fixed))
                raise ConfigError(f"{path}: unknown parameter; use a fixed or searched one: {', '.join(choices)}")
            if cond in known and known[cond].when:
                raise ConfigError(f"{path}: conditions on conditional parameters are not supported")
            if cond not in known:  # a condition on a fixed value must be able to hold
                if fixed[cond] not in allowed:
                    raise ConfigError(must_be(path, list(allowed), f"a list including the fixed value {fixed[cond]!r}"))
                continue
            for value in allowed:
                if not known[cond].contains(value):
                    raise ConfigError(must_be(path, value, known[cond].describe()))
    for p in params:  # every bound must be a valid hyperparameter value
        probes = p.choices if p.type == "categorical" else (p.low, p.high)
        for value in probes:
            try:
                Hyperparams.from_mapping({**fixed, p.name: value}, path="space")
            except ConfigError as err:
                raise ConfigError(f"space.{p.name}: {value!r} is not a valid value: {err}") from None
    return tuple(params)


def _param(name: str, entry: Any, path: str) -> ParamSpec:
    keys = ("type", "low", "high", "step", "log", "choices", "when")
    entry = _mapping(entry, path, keys)
    kind = entry.get("type")
    if kind not in PARAM_TYPES:
        raise ConfigError(must_be(f"{path}.type", kind, f"one of {', '.join(PARAM_TYPES)}"))
    when = _when(entry.get("when"), f"{path}.when")
    if kind == "categorical":
        extra = sorted(set(entry) - {"type", "choices", "when"})
        if extra:
            raise ConfigError(f"{path}.{extra[0]}: not allowed for a categorical; use choices")
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(must_be(f"{path}.choices", choices, "a non-empty list"))
        for value in choices:
            if not isinstance(value, bool | int | float | str):
                raise ConfigError(must_be(f"{path}.choices", value, "scalars (numbers, strings, booleans)"))
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(must_be(f"{path}.choices", choices, "a list without duplicates"))
        return ParamSpec(name, kind, choices=tuple(choices), when=when)
    if "choices" in entry:
        raise ConfigError(f"{path}.choices: only allowed with type: categorical")
    bounds = {}
    for key in ("low", "high"):
        value = entry.get(key)
        number = int if kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            raise ConfigError(must_be(f"{path}.{key}", value, f"a finite {'integer' if kind == 'int' else 'number'}"))
        bounds[key] = value
    low, high = bounds["low"], bounds["high"]
    if low > high:
        raise ConfigError(must_be(f"{path}.low", low, f"<= high ({high})"))
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(must_be(f"{path}.log", log, "true or false"))
    if log and low <= 0:
        raise ConfigError(must_be(f"{path}.low", low, "> 0 with log: true (a log range needs positive bounds)"))
    step = entry.get("step")
    if step is not None:
        number = int if kind == "int" else (int, float)
        if isinstance(step, bool) or not isinstance(step, number) or step <= 0:
            raise ConfigError(must_be(f"{path}.step", step, "a positive " + ("integer" if kind == "int" else "number")))
        if log and step != 1:
            raise ConfigError(f"{path}: step and log: true cannot be combined (Optuna samples one or the other)")
        k = (high - low) / step
        if abs(k - round(k)) > 1e-6:
            raise ConfigError(must_be(f"{path}.high", high, f"low + a whole number of steps ({low} + k * {step})"))
        if log:
            step = None
    return ParamSpec(name, kind, low=low, high=high, step=step, log=log, when=when)


def _when(raw: Any, path: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(must_be(path, raw, "a mapping {parameter: value or [values]}"))
    out = []
    for name, value in raw.items():
        allowed = tuple(value) if isinstance(value, list) else (value,)
        if not allowed:
            raise ConfigError(must_be(f"{path}.{name}", value, "a value or a non-empty list of values"))
        out.append((str(name), allowed))
    return tuple(out)


def _search(raw: Any, space: tuple[ParamSpec, ...], fixed: Mapping[str, Any]) -> SearchSettings:
    settings = _build(SearchSettings, raw, "search")
    _positive_int(settings.num_samples, "search.num_samples")
    _positive_int(settings.max_concurrent, "search.max_concurrent")
    if isinstance(settings.seed, bool) or not isinstance(settings.seed, int):
        raise ConfigError(must_be("search.seed", settings.seed, "an integer"))
    points = settings.warm_start or []
    if not isinstance(points, list | tuple):
        raise ConfigError(must_be("search.warm_start", points, "a list of {parameter: value} mappings"))
    by_name = {p.name: p for p in space}
    cleaned = []
    for i, point in enumerate(points):
        path = f"search.warm_start[{i}]"
        allowed = tuple(by_name) + tuple(fixed)
        point = _mapping(point, path, allowed)
        values = {}
        for key, value in point.items():
            if key in fixed:
                if value != fixed[key]:
                    raise ConfigError(must_be(f"{path}.{key}", value, f"the fixed value {fixed[key]!r} (or omitted)"))
                continue
            if not by_name[key].contains(value):
                raise ConfigError(must_be(f"{path}.{key}", value, by_name[key].describe()))
            values[key] = value
        for key in values:  # a conditional value only where its condition holds
            if not by_name[key].active({**fixed, **values}):
                raise ConfigError(f"{path}.{key}: set, but its condition ({by_name[key].describe()}) does not hold")
        cleaned.append(values)
    return dataclasses.replace(settings, warm_start=tuple(cleaned))


def _data(raw: Any, check_files: bool, base_dir: Path | None) -> DataSpec:
    data = _mapping(raw, "data", (*SPLIT_NAMES, "synthetic"))
    if "synthetic" in data:
        if any(k in data for k in SPLIT_NAMES):
            raise ConfigError("data: give either synthetic or files (train, valid, ...), not both")
        raw_synth = _mapping(data["synthetic"] or {}, "data.synthetic", SYNTH_KEYS)
        try:
            synth = SynthConfig(**raw_synth)
        except ConfigError as err:
            raise ConfigError(f"data.synthetic: {err}") from None
        return DataSpec(synthetic=synth)
    for key in ("train", "valid"):
        if key not in data:
            raise ConfigError(f"data.{key}: missing; give train and valid files (or synthetic: {{...}})")
    paths: dict[str, Path] = {}
    for key in SPLIT_NAMES:
        if data.get(key) is None:
            continue
        path = Path(str(data[key])).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        path = path.resolve()
        if check_files and not path.is_file():
            raise ConfigError(f"data.{key}: file {str(path)!r} does not exist (run `g4r-tune data prepare` first?)")
        paths[key] = path
    return DataSpec(**paths)
