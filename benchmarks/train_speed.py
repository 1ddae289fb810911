"""Training speed and peak memory of g4r-tune's trainer (and optionally the reference GRU4Rec, same data, same run).

    python benchmarks/train_speed.py [--repeats 3] [--threads 1 2] [--configs a b]
        [--reference DIR --reference-python /work/refenv/bin/python [--reference-events 60000]]

Data: a seeded 460k-event / ~20.3k-item click log (Zipf popularity, Markov-like sessions; _synth_clicks.py).
Each measurement runs in a fresh subprocess (clean peak RSS): a trainer on the full data set, 100 warm-up
mini-batches, then events/s over the next ``--steps`` mini-batches (steady state, like the reference's per-epoch
figure; the shrinking tail of an epoch is not included). Medians over interleaved repeats: the machine is shared.
The reference (run.py, unmodified, `-d cpu`, 1 epoch) trains on the same data written as TSV (all of it by default,
or the first ``--reference-events`` events for a shorter run); its own per-epoch "e/s" figure is used (it excludes
its set-up and its first sample-cache fill).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = {
    "a": "loss=bpr-max,layers=224,batch_size=80,n_sample=2048,dropout_p_embed=0.5,dropout_p_hidden=0.05,"
    "momentum=0.4,sample_alpha=0.4,bpreg=1.95,elu_param=0.5,learning_rate=0.05,constrained_embedding=True",
    "b": "loss=cross-entropy,layers=112,batch_size=128,n_sample=2048,learning_rate=0.05,constrained_embedding=True",
}
REFERENCE_SPEED = {("a", 1): 3900, ("a", 2): 5100, ("b", 1): 10700, ("b", 2): 14700}  # reference-results.md


class _Stop(Exception):
    pass


def worker(config: str, threads: int, steps: int, engine: str) -> dict:
    """Runs inside the subprocess: one measurement, printed as JSON."""
    import resource

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    from _synth_clicks import synth_sessions

    from g4r_tune.config import Hyperparams, RuntimeConfig
    from g4r_tune.train import Trainer

    data = synth_sessions()
    params = Hyperparams.from_param_string(CONFIGS[config])
    t_setup = time.perf_counter()
    trainer = Trainer(params, data, RuntimeConfig(threads=threads, seed=1), engine=engine)
    marks: list[tuple[float, int]] = []
    cpu_marks: list[float] = []
    t_start = time.perf_counter()

    def progress(done: int, total: int) -> None:  # called every 100 mini-batches
        marks.append((time.perf_counter(), done))
        cpu_marks.append(time.process_time())
        if len(marks) > steps // 100:
            raise _Stop

    with contextlib.suppress(_Stop):
        trainer.train_epoch(progress=progress)
    (t0, e0), (t1, e1) = marks[0], marks[-1]
    return {
        "config": config,
        "threads": threads,
        "engine": engine,
        "events_per_second": (e1 - e0) / (t1 - t0),
        "ms_per_batch": (t1 - t0) / (100 * (len(marks) - 1)) * 1000,
        # CPU seconds of this process: less sensitive to other jobs on a shared machine than wall time
        "cpu_events_per_second": (e1 - e0) / (cpu_marks[-1] - cpu_marks[0]),
        "setup_seconds": t_start - t_setup,
        "first_100_batches_seconds": marks[0][0] - t_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "n_events": data.n_events,
        "n_items": data.n_items,
    }


def eval_worker(threads: int) -> dict:
    """Evaluation predictions/s of a (briefly trained) config-(a) model on 20k held-out-style events."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    import numpy as np
    import torch
    from _synth_clicks import synth_sessions

    from g4r_tune.config import EvalConfig, Hyperparams
    from g4r_tune.data.sessions import SessionData
    from g4r_tune.evaluate import evaluate
    from g4r_tune.model import GRU4Rec

    torch.set_num_threads(threads)
    data = synth_sessions()
    cut = int(np.searchsorted(data.offsets, 20_000))
    test = SessionData(
        data.items[: data.offsets[cut]], data.offsets[: cut + 1], data.times[: data.offsets[cut]],
        data.session_ids[:cut], data.item_index,
    )  # fmt: skip
    model = GRU4Rec(Hyperparams.from_param_string(CONFIGS["a"]), data.n_items)
    evaluate(model, test, EvalConfig())  # warm-up
    t0 = time.perf_counter()
    result = evaluate(model, test, EvalConfig())
    seconds = time.perf_counter() - t0
    return {"threads": threads, "predictions_per_second": result.n_predictions / seconds, "n_items": data.n_items}


def _run_json(cmd: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_reference(ref_dir: Path, python: str, config: str, threads: int, n_events: int, workdir: Path) -> float:
    """One epoch of the reference's run.py on the first n_events events; returns its e/s figure."""
    path = workdir / f"synth_first{n_events}.tsv"
    if not path.exists():
        sys.path.insert(0, str(REPO))
        sys.path.insert(0, str(HERE))
        import numpy as np
        from _synth_clicks import synth_sessions

        data = synth_sessions()
        cut = min(int(np.searchsorted(data.offsets, n_events)), data.n_sessions)
        sess = np.repeat(np.arange(cut), np.diff(data.offsets[: cut + 1]))
        items = data.items[: data.offsets[cut]]
        with path.open("w") as fh:
            fh.write("SessionId\tItemId\tTime\n")
            for s, i, t in zip(sess, items, data.times[: data.offsets[cut]], strict=True):
                fh.write(f"{s}\t{i}\t{int(t)}\n")
    params = CONFIGS[config] + ",n_epochs=1"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [python, str(ref_dir / "run.py"), str(path), "-ps", params, "-d", "cpu"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ref_dir, check=False)
    match = re.search(r"\|\s*([\d.]+)\s*e/s\]", out.stdout)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"reference run failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return float(match.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["a", "b"], choices=sorted(CONFIGS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=800, help="timed mini-batches per measurement (after 100 warm-up)")
    ap.add_argument("--engine", default="auto", choices=["auto", "fast", "reference"])
    ap.add_argument("--reference", type=Path, help="checkout of the reference GRU4Rec_PyTorch_Official")
    ap.add_argument("--reference-python", default=sys.executable, help="python with numpy<2 / pandas<3")
    ap.add_argument("--reference-events", type=int, default=460_001, help="the reference trains on this many events")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--json", type=Path, help="write all measurements here")
    ap.add_argument("--worker", nargs=3, metavar=("CONFIG", "THREADS", "STEPS"), help=argparse.SUPPRESS)
    ap.add_argument("--eval-worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), int(args.worker[2]), args.engine)))
        return
    if args.eval_worker:
        print(json.dumps(eval_worker(args.eval_worker)))
        return

    print(f"load average at start: {os.getloadavg()}  (cores: {os.cpu_count()})")
    ours: dict[tuple[str, int], list[dict]] = {}
    refs: dict[tuple[str, int], list[float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="g4r_speed_"))
    for rep in range(args.repeats):  # interleaved, so that load changes hit every configuration alike
        for config in args.configs:
            for threads in args.threads:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--engine", args.engine]
                res = _run_json(cmd + ["--worker", config, str(threads), str(args.steps)])
                ours.setdefault((config, threads), []).append(res)
                line = (
                    f"[{rep + 1}/{args.repeats}] ({config}) {threads} thread(s): {res['events_per_second']:,.0f} ev/s"
                )
                if args.reference:
                    ref = run_reference(
                        args.reference, args.reference_python, config, threads, args.reference_events, workdir
                    )
                    refs.setdefault((config, threads), []).append(ref)
                    line += f" | reference {ref:,.0f} ev/s"
                print(line + f" | peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)

    print("\nconfig threads  ours ev/s (median)  ms/batch  peak RSS MB  reference ev/s  ratio")
    summary = []
    for (config, threads), results in ours.items():
        eps = statistics.median(r["events_per_second"] for r in results)
        ms = statistics.median(r["ms_per_batch"] for r in results)
        rss = max(r["peak_rss_mb"] for r in results)
        if (config, threads) in refs:
            ref, src = statistics.median(refs[(config, threads)]), "measured in this run"
        else:
            ref, src = REFERENCE_SPEED[(config, threads)], "reference-results.md"
        summary.append(
            {"config": config, "threads": threads, "events_per_second": eps, "ms_per_batch": ms, "peak_rss_mb": rss,
             "reference_events_per_second": ref, "reference_source": src, "ratio": eps / ref, "runs": results,
             "reference_runs": refs.get((config, threads), [])}
        )  # fmt: skip
        print(f"({config})    {threads}       {eps:>10,.0f}        {ms:6.2f}     {rss:7.0f}      {ref:>8,.0f}  "
              f"  {eps / ref:4.2f}x  ({src})")  # fmt: skip
    evals = []
    if not args.no_eval:
        try:
            import g4r_tune.evaluate  # noqa: F401
        except ImportError:
            print("\n(g4r_tune.evaluate not available: evaluation speed skipped)")
        else:
            for threads in args.threads:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--eval-worker", str(threads)]
                evals.append(_run_json(cmd))
                print(f"evaluation, {threads} thread(s): {evals[-1]['predictions_per_second']:,.0f} predictions/s "
                      f"(all {evals[-1]['n_items']:,} items scored, H=224)")  # fmt: skip
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"training": summary, "evaluation": evals}, indent=2))


if __name__ == "__main__":
    main()
