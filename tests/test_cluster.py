"""Cluster support: offline validation of the shipped cluster-launcher configs, node descriptions, and searches on
a real 3-node Ray cluster started on this machine (tests/_cluster_util.py): trials spread over nodes, and a lost
worker node costs no trial."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from _cluster_util import LocalRayCluster, local_ray_cluster
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from g4r_tune.cli import main
from g4r_tune.cluster import ClusterNode, check_reachable, nodes_from_ray, trial_fits, validate_cluster_config
from g4r_tune.errors import ConfigError, SearchError

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [REPO / "cluster.yaml", REPO / "examples" / "cluster_onprem.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_cluster_configs_pass_rays_schema(path: Path) -> None:
    check = validate_cluster_config(path)
    assert check.schema_checked, check.note
    assert any(t.is_head for t in check.node_types)


def test_cluster_yaml_has_autoscaling_cpu_workers_and_installs_pinned_torch_first() -> None:
    check = validate_cluster_config(REPO / "cluster.yaml")
    workers = [t for t in check.node_types if not t.is_head]
    assert workers and all(t.min_workers == 0 < t.max_workers for t in workers)
    text = (REPO / "cluster.yaml").read_text()
    setup = text[text.index("setup_commands:") :]
    assert setup.index("torch==2.13.0") < setup.index("-e ~/g4r-tune")
    assert "download.pytorch.org/whl/cpu" in setup
    assert re.search(r"ray\[[a-z,]+\]==2\.60\.0", setup)


def test_commented_gpu_worker_type_validates_once_uncommented(tmp_path: Path) -> None:
    lines = (REPO / "cluster.yaml").read_text().splitlines()
    start = lines.index("  # gpu_worker:")
    end = start
    while end < len(lines) and lines[end].startswith("  #"):
        end += 1
    uncommented = [line.replace("  # ", "  ", 1) for line in lines[start:end]]
    path = tmp_path / "gpu.yaml"
    path.write_text("\n".join([*lines[:start], *uncommented, *lines[end:]]) + "\n")
    check = validate_cluster_config(path)
    assert {t.name for t in check.node_types} == {"head", "cpu_worker", "gpu_worker"}


def _with(text: str, old: str, new: str, tmp_path: Path) -> Path:
    assert old in text
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("max_workers: 8\nupscaling", "max_wrkers: 8\nupscaling", r"\(top level\).*'max_wrkers' was unexpected"),
        ("    min_workers: 0\n", "    min_wrkers: 0\n", r"node_types\.cpu_worker.*'min_wrkers' was unexpected"),
        ("    resources: {CPU: 0}\n", "", r"available_node_types\.head: 'resources' is a required property"),
        ("head_node_type: head", "head_node_type: hed", r"head_node_type.*must be one of"),
        ("type: aws", "type: awz", r"Unsupported node provider: awz"),
    ],
    ids=["misspelt-top-level-key", "misspelt-node-type-key", "missing-resources", "unknown-head-type", "provider"],
)
def test_invalid_cluster_config_is_rejected_with_its_key_path(old: str, new: str, expected: str, tmp_path) -> None:
    path = _with((REPO / "cluster.yaml").read_text(), old, new, tmp_path)
    with pytest.raises(ConfigError, match=expected) as err:
        validate_cluster_config(path)
    assert str(path) in str(err.value)


def test_misspelt_key_in_onprem_example_is_rejected(tmp_path: Path) -> None:
    path = _with((REPO / "examples" / "cluster_onprem.yaml").read_text(), "max_workers: 3", "max_wrkers: 3", tmp_path)
    with pytest.raises(ConfigError, match="'max_wrkers' was unexpected"):
        validate_cluster_config(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("[1, 2]\n", "must be a YAML mapping"), ("a: [1\n", "not valid YAML")],
)
def test_not_a_cluster_config(content: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        validate_cluster_config(path)
    with pytest.raises(ConfigError, match="not found"):
        validate_cluster_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("moved", ["module", "function"])
def test_validation_fails_soft_when_rays_private_api_moved(moved: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if moved == "module":
        monkeypatch.setitem(sys.modules, "ray.autoscaler._private.util", None)  # importing it now fails
    else:
        import ray.autoscaler._private.util as util

        monkeypatch.delattr(util, "validate_config")
    check = validate_cluster_config(REPO / "cluster.yaml")
    assert not check.schema_checked
    assert "NOT checked" in check.note and "not importable" in check.note
    assert check.cluster_name == "g4r-tune" and check.provider == "aws"
    assert {t.name for t in check.node_types} == {"head", "cpu_worker"}


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "validate", str(REPO / "cluster.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    bad = _with((REPO / "cluster.yaml").read_text(), "max_workers: 8\nupscaling", "max_wrkers: 8\nupscaling", tmp_path)
    assert main(["cluster", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "max_wrkers" in err and "Traceback" not in err


def test_cli_validate_warns_when_schema_not_checked(monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray.autoscaler._private.util", None)
    assert main(["cluster", "validate", str(REPO / "cluster.yaml")]) == 0
    assert "NOT checked" in capsys.readouterr().out


def _raw_node(node_id: str, alive: bool, cpus: float, gpus: float = 0.0, head: bool = False) -> dict:
    resources = {"CPU": cpus, "memory": 8e9, "object_store_memory": 2e9, f"node:10.0.0.{len(node_id)}": 1.0}
    if gpus:
        resources["GPU"] = gpus
    if head:
        resources["node:__internal_head__"] = 1.0
    return {"NodeID": node_id, "NodeManagerAddress": "10.0.0.1", "Alive": alive, "Resources": resources}


def test_nodes_from_ray_puts_head_first_and_reads_resources() -> None:
    nodes = nodes_from_ray(
        [_raw_node("w1", True, 4), _raw_node("dead", False, 0), _raw_node("h", True, 0, head=True), {"NodeID": "x"}]
    )
    assert [n.node_id for n in nodes][:1] == ["h"] and nodes[0].is_head
    w1 = next(n for n in nodes if n.node_id == "w1")
    assert (w1.cpus, w1.gpus, w1.memory_gb, w1.object_store_gb, w1.alive) == (4.0, 0.0, 8.0, 2.0, True)
    assert next(n for n in nodes if n.node_id == "x") == ClusterNode("x", "", False, False, 0.0, 0.0, 0.0, 0.0)


def test_trial_fits_needs_one_live_node_with_enough_cpus_and_gpus() -> None:
    nodes = nodes_from_ray([_raw_node("a", True, 2), _raw_node("b", False, 16, gpus=1), _raw_node("g", True, 4, 1)])
    assert trial_fits(nodes, 2, 0)
    assert trial_fits(nodes, 4, 1)
    assert not trial_fits(nodes, 8, 0)  # only the dead node has that many
    assert not trial_fits(nodes, 1, 2)
    assert not trial_fits([], 1, 0)


def test_check_reachable_fails_fast_on_a_closed_port() -> None:
    with socket.socket() as s:  # bind without listening: connecting is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SearchError, match=rf"cannot reach the Ray cluster at 127\.0\.0\.1:{port}"):
            check_reachable(f"127.0.0.1:{port}", timeout_s=5)
    assert time.monotonic() - started < 5


def test_search_with_an_unreachable_address_fails_at_once_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write_spec(tmp_path, "unreachable", n_sessions=200, max_epochs=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        code = main([str(spec), "--address", address, "--storage", str(tmp_path / "results"), "--no-report"])
    assert code == 1
    assert f"cannot reach the Ray cluster at {address}" in capsys.readouterr().err
    assert not (tmp_path / "results" / "unreachable").exists()


def test_check_reachable_accepts_a_listening_port_and_skips_local_addresses() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert check_reachable(f"127.0.0.1:{port}") == f"127.0.0.1:{port}"
    assert check_reachable(None) is None and check_reachable("local") is None
    assert check_reachable("ray://head:10001") is None
    with pytest.raises(SearchError, match="not of the form HOST:PORT"):
        check_reachable("head-without-port")


def test_check_reachable_auto_without_a_cluster_says_so(monkeypatch, tmp_path: Path) -> None:
    import ray._private.services as services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def no_cluster(addr: str, temp_dir: str | None = None) -> None:  # what Ray does on a machine without one
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(services, "canonicalize_bootstrap_address", no_cluster)
    with pytest.raises(SearchError, match="no running Ray cluster found.*Could not find any running Ray"):
        check_reachable("auto")


# --- a real 3-node Ray cluster on this machine ---------------------------------------------------------------------


@pytest.fixture
def ray_cluster() -> Iterator[LocalRayCluster]:
    if not Path("/proc/self/environ").exists():
        pytest.skip("the cluster harness finds its processes through /proc (Linux only)")
    with local_ray_cluster(n_workers=2, cpus_per_node=1) as cluster:
        yield cluster
    survivors = [pid for node in cluster.nodes for pid in node.pids()]
    assert not survivors, f"processes of the test cluster outlived its teardown: {survivors}"


def _write_spec(folder: Path, name: str, n_sessions: int, max_epochs: int) -> Path:
    """A tiny search: 4 trials, 3 at a time (one per 1-CPU node), no ASHA stop (grace period = max_epochs)."""
    spec = {
        "name": name,
        "data": {"synthetic": {"n_items": 400, "n_sessions": n_sessions, "days": 5, "seed": 3}},
        "fixed": {"loss": "cross-entropy", "batch_size": 32, "n_sample": 0},
        "space": {
            "layers": {"type": "int", "low": 16, "high": 48, "step": 16},
            "learning_rate": {"type": "float", "low": 0.02, "high": 0.1, "log": True},
        },
        "metric": "recall@20",
        "search": {"num_samples": 4, "max_concurrent": 3, "seed": 1},
        "asha": {"max_epochs": max_epochs, "grace_period": max_epochs, "reduction_factor": 2},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0},
        "report": {"top_k": 2},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _search_command(spec: Path, cluster: LocalRayCluster, storage: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "g4r_tune", str(spec), "--address", cluster.address, "--storage", str(storage)] + [
        *extra
    ]


def _driver_env(cluster: LocalRayCluster) -> dict[str, str]:
    env = {**cluster.env, "COLUMNS": "160"}
    env.pop("RAY_ADDRESS", None)  # the cluster is reached through --address only
    return env


def _trials(experiment: Path) -> list[dict]:
    return json.loads((experiment / "g4r_trials.json").read_text())


def _epoch_rows(experiment: Path, trial: dict) -> list[dict]:
    lines = (experiment / trial["trial_dir"] / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_search_with_address_spreads_trials_over_cluster_nodes_and_writes_the_report(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    nodes = subprocess.run(
        [sys.executable, "-m", "g4r_tune", "cluster", "nodes", "--address", ray_cluster.address],
        env=_driver_env(ray_cluster),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nodes.returncode == 0, nodes.stderr[-3000:]
    assert "3 live node(s)" in nodes.stdout
    assert all(node.node_id()[:12] in nodes.stdout for node in ray_cluster.nodes)

    spec = _write_spec(tmp_path, "spread", n_sessions=1500, max_epochs=3)
    storage = tmp_path / "results"
    run = subprocess.run(
        _search_command(spec, ray_cluster, storage),
        env=_driver_env(ray_cluster),
        cwd=tmp_path,  # the report goes to ./reports/<name>/
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}\n{ray_cluster.logs_tail()}"

    cluster_nodes = {node.node_id() for node in ray_cluster.nodes}
    trials = _trials(storage / "spread")
    assert len(trials) == 4 and all(t["status"] == "TERMINATED" and t["error"] is None for t in trials)
    # every epoch ran on one of OUR nodes (no local Ray was started by surprise), and trials used several of them
    used = set()
    for trial in trials:
        rows = _epoch_rows(storage / "spread", trial)
        assert [r["epoch"] for r in rows] == [1, 2, 3]
        assert {r["node_id"] for r in rows} <= cluster_nodes
        assert trial["node_id"] == rows[-1]["node_id"] and trial["node_ip"]
        used |= {r["node_id"] for r in rows}
    assert len(used) >= 2, f"all trials ran on one node: {used}"

    report = tmp_path / "reports" / "spread"
    assert (report / "report.html").stat().st_size > 0
    markdown = (report / "report.md").read_text()
    best = max(trials, key=lambda t: t["metric_best"])
    assert best["trial_id"] in markdown
    # the report's final check retrains the top configs as Ray tasks on the cluster: it must have run there
    final = markdown[markdown.index("Final check on held-out data") :]
    assert "retrained on" in final and "Failed:" not in final and "Skipped" not in final, final[:1000]
    assert len((report / "trials.csv").read_text().strip().splitlines()) == 1 + len(trials)


def test_losing_a_worker_node_mid_search_loses_no_trial(ray_cluster: LocalRayCluster, tmp_path: Path) -> None:
    max_epochs = 6
    spec = _write_spec(tmp_path, "nodeloss", n_sessions=4000, max_epochs=max_epochs)
    storage = tmp_path / "results"
    experiment = storage / "nodeloss"
    victim = ray_cluster.workers[0]
    victim_id = victim.node_id()
    driver = subprocess.Popen(
        _search_command(spec, ray_cluster, storage, "--no-report"),
        env=_driver_env(ray_cluster),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        victim_trial = None
        deadline = time.monotonic() + 180
        while victim_trial is None and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                trials = _trials(experiment)
            except (OSError, ValueError):  # not written yet
                continue
            for t in trials:  # a trial on the victim with a checkpoint behind it and epochs still to go
                if t["status"] == "RUNNING" and t["node_id"] == victim_id and 1 <= t["epochs"] <= max_epochs - 2:
                    victim.kill()
                    victim_trial = t
                    break
        output, _ = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert victim_trial is not None, f"no trial was caught running on {victim.name}:\n{output[-3000:]}"
    assert driver.returncode == 0, f"{output[-3000:]}\n{ray_cluster.logs_tail()}"

    trials = {t["trial_id"]: t for t in _trials(experiment)}
    assert len(trials) == 4
    for t in trials.values():  # no trial lost or failed: every one trained its full budget
        assert (t["status"], t["error"], t["epochs"]) == ("TERMINATED", None, max_epochs), t
    moved = trials[victim_trial["trial_id"]]
    assert moved["restarts"] >= 1 and moved["node_id"] != victim_id
    rows = _epoch_rows(experiment, moved)
    epochs = [r["epoch"] for r in rows]
    # restarted from its last checkpoint: the epochs continue, none is trained twice
    assert epochs == list(range(1, max_epochs + 1)), epochs
    on_victim = [r["epoch"] for r in rows if r["node_id"] == victim_id]
    assert on_victim and on_victim == epochs[: len(on_victim)] and len(on_victim) < max_epochs
    # the searcher lost nothing either: Optuna holds every trial as COMPLETE
    study = optuna.load_study(
        study_name="nodeloss", storage=JournalStorage(JournalFileBackend(str(experiment / "optuna_journal.log")))
    )
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.COMPLETE) == 4
