"""Ray clusters: offline validation of a cluster-launcher YAML, and a description of a connected cluster's nodes.

`validate_cluster_config` runs what `ray up` runs before it contacts any cloud: `prepare_config` (fill defaults,
merge setup commands) and `validate_config` (Ray's JSON schema, which rejects unknown keys such as `max_wrkers`).
Those live in Ray's private `ray.autoscaler._private.util`; if a Ray release moves them we fail soft: the YAML is
still parsed and summarised, and the result says that the schema was not checked and why.
"""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from g4r_tune.errors import ConfigError, SearchError


@dataclass(frozen=True)
class NodeTypeSummary:
    """One entry of `available_node_types` after Ray filled in its defaults."""

    name: str
    is_head: bool
    min_workers: int
    max_workers: int
    resources: dict[str, float]


@dataclass(frozen=True)
class ClusterConfigCheck:
    """The outcome of validating a cluster-launcher YAML."""

    path: str
    cluster_name: str
    provider: str
    node_types: tuple[NodeTypeSummary, ...]
    max_workers: int | None
    schema_checked: bool  # False when Ray's private validation API could not be used (see `note`)
    note: str = ""


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: cluster config not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a cluster config must be a YAML mapping, got {type(config).__name__}")
    return config


def _ray_validators() -> tuple[Any, Any] | str:
    """Ray's (prepare_config, validate_config), or why they cannot be used."""
    try:
        from ray.autoscaler._private.util import prepare_config, validate_config
    except (ImportError, AttributeError) as err:  # a private API: it may move between Ray releases
        return f"Ray's cluster-config validator is not importable ({type(err).__name__}: {err})"
    try:
        import jsonschema  # noqa: F401  (validate_config needs it; ray[default] installs it)
    except ImportError:
        return "the `jsonschema` package is missing (install `ray[default]`)"
    return prepare_config, validate_config


def _schema_error_message(err: Exception) -> str:
    """`key.path: message` from a jsonschema.ValidationError (duck-typed: jsonschema stays optional)."""
    key_path = ".".join(str(p) for p in getattr(err, "absolute_path", ()))
    message = getattr(err, "message", None) or str(err)
    return f"{key_path or '(top level)'}: {message}"


def _summarise(config: Mapping[str, Any]) -> tuple[NodeTypeSummary, ...]:
    node_types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    summaries = []
    for name, spec in node_types.items():
        spec = spec if isinstance(spec, Mapping) else {}
        summaries.append(
            NodeTypeSummary(
                name=str(name),
                is_head=name == head,
                min_workers=int(spec.get("min_workers", 0) or 0),
                max_workers=int(spec.get("max_workers", 0) or 0),
                resources={str(k): float(v) for k, v in (spec.get("resources") or {}).items()},
            )
        )
    return tuple(summaries)


def validate_cluster_config(path: str | Path) -> ClusterConfigCheck:
    """Validate a `ray up` cluster config offline; raises ConfigError naming the key path on a schema error."""
    path = Path(path)
    raw = _load_yaml(path)
    provider = raw.get("provider")
    provider_type = str(provider.get("type", "?")) if isinstance(provider, Mapping) else "?"
    validators = _ray_validators()
    if isinstance(validators, str):
        config, note = raw, f"schema NOT checked: {validators}; `ray up` will check it"
    else:
        config, note = _prepare_and_validate(path, raw, *validators), ""
    return ClusterConfigCheck(
        path=str(path),
        cluster_name=str(config.get("cluster_name", "?")),
        provider=provider_type,
        node_types=_summarise(config),
        max_workers=config.get("max_workers"),
        schema_checked=not note,
        note=note,
    )


def _prepare_and_validate(path: Path, raw: dict[str, Any], prepare_config: Any, validate_config: Any) -> dict:
    """Ray's own launcher checks (fills defaults, then the JSON schema); errors become one ConfigError line."""
    autoscaler_log = logging.getLogger("ray.autoscaler")
    level = autoscaler_log.level
    autoscaler_log.setLevel(logging.WARNING)  # Ray logs each default it fills in at INFO
    try:
        prepared = prepare_config(copy.deepcopy(raw))
        validate_config(prepared)
    except Exception as err:  # jsonschema.ValidationError, ValueError, KeyError, click's abort, ...
        if type(err).__name__ == "ValidationError":
            raise ConfigError(f"{path}: {_schema_error_message(err)}") from None
        detail = str(err) or type(err).__name__
        if isinstance(err, KeyError):
            detail = f"missing key {err}"
        raise ConfigError(f"{path}: {detail}") from None
    finally:
        autoscaler_log.setLevel(level)
    return prepared


@dataclass(frozen=True)
class ClusterNode:
    """One node of a running Ray cluster."""

    node_id: str
    ip: str
    alive: bool
    is_head: bool
    cpus: float
    gpus: float
    memory_gb: float
    object_store_gb: float


def nodes_from_ray(raw_nodes: Iterable[Mapping[str, Any]]) -> list[ClusterNode]:
    """`ray.nodes()` records -> ClusterNode, head first, then by IP (pure, so it is tested without Ray)."""
    nodes = []
    for raw in raw_nodes:
        resources = raw.get("Resources") or {}
        nodes.append(
            ClusterNode(
                node_id=str(raw.get("NodeID", "")),
                ip=str(raw.get("NodeManagerAddress", "")),
                alive=bool(raw.get("Alive", False)),
                is_head="node:__internal_head__" in resources,
                cpus=float(resources.get("CPU", 0.0)),
                gpus=float(resources.get("GPU", 0.0)),
                memory_gb=float(resources.get("memory", 0.0)) / 1e9,
                object_store_gb=float(resources.get("object_store_memory", 0.0)) / 1e9,
            )
        )
    return sorted(nodes, key=lambda n: (not n.is_head, not n.alive, n.ip, n.node_id))


def trial_fits(nodes: Iterable[ClusterNode], cpus_per_trial: float, gpus_per_trial: float) -> bool:
    """Whether at least one live node can host a trial (otherwise it waits forever unless an autoscaler adds one)."""
    return any(n.alive and n.cpus >= cpus_per_trial and n.gpus >= gpus_per_trial for n in nodes)


def describe_cluster(address: str = "auto") -> list[ClusterNode]:
    """Connect to a running cluster (never starting one) and list its nodes."""
    import ray

    try:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        return nodes_from_ray(ray.nodes())
    except ConnectionError as err:
        raise SearchError(f"could not connect to the Ray cluster at {address!r}: {err}") from None


def check_reachable(address: str | None, timeout_s: float = 10.0) -> str | None:
    """Fail fast if a cluster address cannot be reached: `ray.init(address="host:port")` retries silently for many
    minutes when nothing listens there. Returns the resolved `host:port` (None when there is nothing to probe:
    a local Ray, or a `ray://` client address). "auto" resolves like Ray does (RAY_ADDRESS, then the address
    recorded by `ray start` on this machine)."""
    if address is None or address == "local" or address.startswith("ray://"):
        return None
    resolved = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address

            resolved = canonicalize_bootstrap_address("auto")
        except (ImportError, AttributeError):  # private API moved: let ray.init resolve "auto" itself
            return None
        except Exception as err:
            raise SearchError(f"--address auto: no running Ray cluster found on this machine ({err})") from None
        if resolved is None:
            raise SearchError(
                "--address auto: no running Ray cluster found on this machine "
                "(run it on a cluster node, e.g. via `ray exec cluster.yaml ...`, or pass --address HOST:PORT)"
            )
    host, sep, port = resolved.rpartition(":")
    if not sep or not port.isdigit():
        raise SearchError(f"Ray address {address!r} is not of the form HOST:PORT, 'auto' or 'ray://HOST:PORT'")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise SearchError(
            f"cannot reach the Ray cluster at {resolved} ({err.strerror or err}): is its head node running and "
            "the port open from here?"
        ) from None
    return resolved
