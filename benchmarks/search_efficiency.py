"""ASHA + TPE vs random search without early stopping, same trial count, on generated data, side by side.

Prints, per strategy: best validation Recall@20, total epochs trained, wall time, and Ray's overhead per trial
((wall x concurrency - time spent inside trial iterations) / trials). Goal: ASHA+TPE within 1% of random search's
best Recall@20 with <= 35% of its epochs.

    python benchmarks/search_efficiency.py                 # 20 trials x 9 epochs, seed 7
    python benchmarks/search_efficiency.py --num-samples 12 --max-epochs 6 --seeds 7 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import ray

from g4r_tune.search import run_search
from g4r_tune.spec import SearchSpec, parse_spec


def bench_spec(storage: Path, name: str, num_samples: int, max_epochs: int, seed: int, rf: int = 3) -> SearchSpec:
    return parse_spec(
        {
            "name": name,
            "data": {"synthetic": {"n_items": 2000, "n_sessions": 8000, "days": 7, "seed": 42}},
            "fixed": {"n_sample": 256, "constrained_embedding": True},
            "space": {
                "loss": {"type": "categorical", "choices": ["bpr-max", "cross-entropy"]},
                "layers": {"type": "int", "low": 32, "high": 128, "step": 32},
                "batch_size": {"type": "int", "low": 32, "high": 128, "step": 16},
                "learning_rate": {"type": "float", "low": 0.005, "high": 0.3, "log": True},
                "momentum": {"type": "float", "low": 0.0, "high": 0.6, "step": 0.1},
                "dropout_p_hidden": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
                "bpreg": {"type": "float", "low": 0.0, "high": 2.5, "step": 0.25, "when": {"loss": "bpr-max"}},
                "elu_param": {"type": "categorical", "choices": [0.5, 1.0, 0.0], "when": {"loss": "bpr-max"}},
            },
            "metric": "recall@20",
            "search": {"num_samples": num_samples, "max_concurrent": 2, "seed": seed},
            "asha": {"max_epochs": max_epochs, "grace_period": 1, "reduction_factor": rf},
            "storage": str(storage),
        }
    )


def iteration_seconds(folder: Path) -> float:
    """Seconds spent inside trial iterations (train + evaluate + checkpoint), from every trial's result.json."""
    total = 0.0
    for result in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        total += sum(float(r.get("time_this_iter_s", 0.0)) for r in rows)
    return total


def run_one(spec: SearchSpec, *, asha_tpe: bool) -> dict[str, Any]:
    sampler = None if asha_tpe else optuna.samplers.RandomSampler(seed=spec.search.seed)
    start = time.time()
    out = run_search(spec, sampler=sampler, early_stopping=asha_tpe)
    wall = time.time() - start
    busy = iteration_seconds(out.experiment_dir)
    return {
        "best": out.best_value or 0.0,
        "epochs": out.epochs_used,
        "wall": wall,
        "overhead_per_trial": (wall * spec.search.max_concurrent - busy) / max(1, out.n_trials),
        "stopped_early": out.n_stopped_early,
        "trials": out.n_trials,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=20)
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--reduction-factor", type=int, default=3, help="ASHA keeps 1/rf of the trials at each rung")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="g4r_bench_search_"))
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, configure_logging=False)
    ray.get(ray.remote(lambda: None).remote())  # burn-in: start-up is not part of either strategy
    rows = []
    try:
        for seed in args.seeds:
            for asha_tpe in (False, True):
                label = "asha_tpe" if asha_tpe else "random_full"
                name = f"{label}_{seed}"
                spec = bench_spec(root, name, args.num_samples, args.max_epochs, seed, args.reduction_factor)
                rows.append((seed, label, run_one(spec, asha_tpe=asha_tpe)))
                print(f"seed {seed} {label}: {rows[-1][2]}", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\n{args.num_samples} trials x up to {args.max_epochs} epochs, 2 concurrent, 2 CPUs, "
        f"ASHA grace 1, reduction factor {args.reduction_factor}"
    )
    print("| seed | strategy | best valid Recall@20 | epochs | wall s | Ray overhead s/trial | stopped early |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seed, label, r in rows:
        print(
            f"| {seed} | {label} | {r['best']:.4f} | {r['epochs']} | {r['wall']:.0f} | "
            f"{r['overhead_per_trial']:.2f} | {r['stopped_early']} |"
        )
    for seed in args.seeds:
        rand = next(r for s, label, r in rows if s == seed and label == "random_full")
        asha = next(r for s, label, r in rows if s == seed and label == "asha_tpe")
        gap = (rand["best"] - asha["best"]) / rand["best"] if rand["best"] else 0.0
        share = asha["epochs"] / rand["epochs"] if rand["epochs"] else 0.0
        goal = "meets" if gap <= 0.01 and share <= 0.35 else "misses"
        print(
            f"seed {seed}: ASHA+TPE best is {gap:+.2%} below random's, with {share:.0%} of its epochs and "
            f"{asha['wall'] / rand['wall']:.0%} of its wall time -> {goal} the goal (<= 1% below, <= 35% epochs)"
        )


if __name__ == "__main__":
    main()
