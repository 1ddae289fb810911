"""End to end on real Ray: `g4r-tune SPEC.yaml` runs a tiny search, then its report (with the final check as Ray
tasks); `g4r-tune train --config tuned/1.yaml` accepts the tuned config back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from g4r_tune.cli import main

pytestmark = pytest.mark.slow

SPEC = {
    "name": "tiny",
    "data": {"synthetic": {"n_items": 150, "n_sessions": 600, "days": 5, "seed": 1}},
    "fixed": {"loss": "bpr-max", "n_sample": 32, "batch_size": 32},
    "space": {
        "layers": {"type": "int", "low": 16, "high": 32, "step": 16},
        "learning_rate": {"type": "float", "low": 0.03, "high": 0.2, "log": True},
    },
    "metric": "recall@20",
    "search": {"num_samples": 4, "max_concurrent": 2, "seed": 3},
    "asha": {"max_epochs": 3, "grace_period": 1, "reduction_factor": 2},
    "report": {"top_k": 2, "latency": {"p99_budget_ms": 50}},
}


def test_search_then_report_then_train_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = dict(SPEC, storage=str(tmp_path / "results"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    assert main(["tiny.yaml"]) == 0  # the search, then its report (search's CLI calls generate_report)
    out = tmp_path / "reports" / "tiny"
    md = (out / "report.md").read_text()
    for heading in (
        "## Summary",
        "## Top 2 configurations",
        "## Latency budget",
        "## Convergence",
        "## Early stopping (ASHA)",
        "## Search insight",
        "## Trials that errored",
        "## Final check on held-out data",
    ):
        assert heading in md
    assert "p99 budget: **50 ms**" in md
    final = md.split("## Final check on held-out data")[1]
    assert "synth_train_full.tsv" in final and " ± " in final  # retrained on Ray with 3 seeds
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and trials["p99_ms"].notna().any()
    assert (out / "report.html").stat().st_size > 50_000

    tuned = yaml.safe_load((out / "tuned" / "1.yaml").read_text())
    best = trials.sort_values(["recall@20", "order"], ascending=[False, True]).iloc[0]
    record = next(
        r
        for r in json.loads((tmp_path / "results" / "tiny" / "g4r_trials.json").read_text())
        if r["trial_id"] == best["trial_id"]
    )
    assert tuned["params"] == {**record["config"], "n_epochs": int(best["best_epoch"])}
    train_json = tmp_path / "train.json"
    data = tmp_path / "results" / "tiny" / "data"
    assert (
        main(
            [
                "train",
                str(data / "synth_train_tr.tsv"),
                "--config",
                str(out / "tuned" / "1.yaml"),
                "--json",
                str(train_json),
            ]
        )
        == 0
    )
    assert json.loads(train_json.read_text())["params"] == tuned["params"]
