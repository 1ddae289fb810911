"""Accuracy parity with the reference GRU4Rec on serenade_toy (train_tr -> train_valid, 10 epochs, 1 thread).

    python benchmarks/accuracy_parity.py [--data ../shared/data/serenade_toy] [--seeds 1 2 3] [--configs a b]

Reference figures (3 runs of the authors' implementation on this machine, conservative ties) are those of
../shared/docs/reference-results.md; the target is Recall@20 and MRR@20 within ±2% (relative) of their means.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from g4r_tune.config import EvalConfig, Hyperparams, RuntimeConfig  # noqa: E402
from g4r_tune.data.loader import load_sessions  # noqa: E402
from g4r_tune.evaluate import evaluate  # noqa: E402
from g4r_tune.train import Trainer  # noqa: E402

CONFIGS = {
    "a": "loss=bpr-max,constrained_embedding=True,embedding=0,elu_param=0.5,layers=224,n_epochs=10,batch_size=80,"
    "dropout_p_embed=0.5,dropout_p_hidden=0.05,learning_rate=0.05,momentum=0.4,n_sample=2048,sample_alpha=0.4,"
    "bpreg=1.95,logq=0.0",
    "b": "loss=cross-entropy,constrained_embedding=True,embedding=0,layers=112,n_epochs=10,batch_size=128,"
    "dropout_p_embed=0.0,dropout_p_hidden=0.0,learning_rate=0.05,momentum=0.0,n_sample=2048,sample_alpha=0.5,"
    "logq=0.0",
}
REFERENCE = {"a": (0.7797, 0.3823), "b": (0.7339, 0.3083)}  # mean Recall@20, MRR@20 of 3 reference runs


def _default_data() -> Path:
    """../shared/data/serenade_toy next to the checkout (or next to the worktree folder)."""
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "data" / "serenade_toy").is_dir():
            return base / "shared" / "data" / "serenade_toy"
    return REPO.parent / "shared" / "data" / "serenade_toy"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=_default_data())
    ap.add_argument("--configs", nargs="+", default=["a", "b"], choices=sorted(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default="auto", choices=["auto", "fast", "reference"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    train = load_sessions(args.data / "serenade_toy_train_tr.tsv").data
    valid = load_sessions(args.data / "serenade_toy_train_valid.tsv", item_index=train.item_index)
    print(
        f"train: {train.n_events:,} events, {train.n_sessions:,} sessions, {train.n_items:,} items; "
        f"valid: {valid.data.n_predictions:,} predictions, {valid.n_dropped_unknown} unknown-item events dropped"
    )
    out = {}
    for config in args.configs:
        params = Hyperparams.from_param_string(CONFIGS[config])
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            trainer = Trainer(params, train, RuntimeConfig(threads=args.threads, seed=seed), engine=args.engine)
            history = trainer.fit()
            dropped = valid.n_dropped_unknown
            res = evaluate(trainer.model, valid.data, EvalConfig(cutoffs=(20,)), n_dropped_unknown=dropped)
            runs.append({"seed": seed, "recall@20": res.recall[20], "mrr@20": res.mrr[20],
                         "n_predictions": res.n_predictions, "final_loss": history[-1].loss,
                         "train_seconds": sum(s.seconds for s in history), "wall_seconds": time.perf_counter() - t0,
                         "events_per_second": [round(s.events_per_second) for s in history]})  # fmt: skip
            print(
                f"({config}) seed {seed}: Recall@20 {res.recall[20]:.4f}  MRR@20 {res.mrr[20]:.4f}  "
                f"({res.n_predictions} predictions, train {runs[-1]['train_seconds']:.0f} s)",
                flush=True,
            )
        recall = statistics.mean(r["recall@20"] for r in runs)
        mrr = statistics.mean(r["mrr@20"] for r in runs)
        ref_recall, ref_mrr = REFERENCE[config]
        d_recall, d_mrr = recall / ref_recall - 1, mrr / ref_mrr - 1
        ok = abs(d_recall) <= 0.02 and abs(d_mrr) <= 0.02
        print(
            f"({config}) mean of {len(runs)}: Recall@20 {recall:.4f} (reference {ref_recall:.4f}, {d_recall:+.2%})  "
            f"MRR@20 {mrr:.4f} (reference {ref_mrr:.4f}, {d_mrr:+.2%})  -> {'within' if ok else 'OUTSIDE'} ±2%"
        )
        out[config] = {"runs": runs, "recall@20": recall, "mrr@20": mrr, "reference": REFERENCE[config],
                       "relative_diff": {"recall@20": d_recall, "mrr@20": d_mrr}, "within_2pct": ok}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
