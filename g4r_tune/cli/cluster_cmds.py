"""CLI: `cluster validate CLUSTER.yaml` (offline, what `ray up` checks first) and `cluster nodes --address`."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the top-level parser."""
    cluster = sub.add_parser("cluster", help="Ray cluster helpers: validate a cluster.yaml, list a cluster's nodes")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)

    validate = actions.add_parser(
        "validate", help="check a Ray cluster-launcher YAML against Ray's own schema, offline (no cloud calls)"
    )
    validate.add_argument("config", help="cluster-launcher YAML, e.g. cluster.yaml")
    validate.set_defaults(func=_validate)

    nodes = actions.add_parser("nodes", help="connect to a running Ray cluster and list its nodes")
    nodes.add_argument(
        "--address", default="auto", help="Ray address: 'auto' (on a cluster node) or HOST:PORT (default: auto)"
    )
    nodes.set_defaults(func=_nodes)


def _validate(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.cluster import validate_cluster_config

    check = validate_cluster_config(args.config)
    table = Table(title=f"{check.path}: cluster {check.cluster_name!r} on provider {check.provider!r}")
    for column in ("node type", "role", "min workers", "max workers", "resources"):
        table.add_column(column)
    for node_type in check.node_types:
        resources = ", ".join(f"{k}={v:g}" for k, v in node_type.resources.items()) or "(autodetected)"
        # provider: local has one node type for the head and its workers
        role = ("head + workers" if node_type.max_workers else "head") if node_type.is_head else "worker"
        table.add_row(node_type.name, role, str(node_type.min_workers), str(node_type.max_workers), resources)
    console.print(table)
    if not check.schema_checked:
        console.print(f"[yellow]warning:[/] {check.note}", highlight=False)
        return 0
    console.print(f"[green]valid[/]: passes Ray's cluster-config schema (max_workers={check.max_workers})")
    return 0


def _nodes(args: argparse.Namespace, console: Console) -> int:
    from g4r_tune.cluster import describe_cluster

    nodes = describe_cluster(args.address)
    table = Table(title=f"Ray cluster at {args.address}: {sum(n.alive for n in nodes)} live node(s)")
    for column in ("node id", "ip", "role", "state", "CPUs", "GPUs", "memory GB", "object store GB"):
        table.add_column(column)
    for n in nodes:
        table.add_row(
            n.node_id[:12],
            n.ip,
            "head" if n.is_head else "worker",
            "alive" if n.alive else "dead",
            f"{n.cpus:g}",
            f"{n.gpus:g}",
            f"{n.memory_gb:.1f}",
            f"{n.object_store_gb:.1f}",
        )
    console.print(table)
    return 0
