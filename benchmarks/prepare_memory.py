"""Peak memory and time of `g4r-tune data prepare yoochoose` on a full-size synthetic yoochoose-clicks.dat.

Writes a Yoochoose-format file (SessionID,ISO-8601 Timestamp,ItemID,Category; no header) with --rows rows
(default 33M, like the real 1.4 GB file: ~9M sessions, ~50k power-law items, 180 days), then runs the CLI in a
subprocess and prints its peak RSS next to the 8 GB budget and the input size.

    python benchmarks/prepare_memory.py --rows 33000000 --workdir /tmp/yc_bench
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

BUDGET_BYTES = 8 * 1024**3


def write_clicks(path: Path, rows: int, seed: int = 0, chunk: int = 2_000_000) -> None:
    rng = np.random.default_rng(seed)
    n_items, start_ms, span_ms = 52_000, 1_396_310_400_000, 180 * 86_400_000
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity /= popularity.sum()
    session = 0
    with open(path, "w") as handle:
        for begin in range(0, rows, chunk):
            n = min(chunk, rows - begin)
            lengths = 1 + rng.geometric(0.3, size=n // 3 + 1)
            lengths = lengths[: np.searchsorted(np.cumsum(lengths), n) + 1]
            lengths[-1] -= lengths.sum() - n
            sid = np.repeat(np.arange(session, session + len(lengths)), lengths) + 1
            session += len(lengths)
            starts = start_ms + np.sort(rng.integers(0, span_ms, len(lengths)))
            gaps = rng.integers(1_000, 120_000, n)
            gaps[np.r_[0, np.cumsum(lengths)[:-1]]] = 0
            offsets = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.r_[0, np.cumsum(lengths)[:-1]]], lengths)
            ms = np.repeat(starts, lengths) + offsets
            stamps = np.char.add(np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms"), "Z")
            item = rng.choice(n_items, size=n, p=popularity) + 214_500_000
            frame = pd.DataFrame({"s": sid, "t": stamps, "i": item, "c": "0"})
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=33_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/g4r_prepare_bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    raw = args.workdir / "yoochoose-clicks.dat"
    if not raw.is_file() or raw.stat().st_size == 0:
        began = time.perf_counter()
        write_clicks(raw, args.rows)
        print(f"wrote {args.rows:,} rows ({raw.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    command = [sys.executable, "-m", "g4r_tune", "data", "prepare", "yoochoose", str(raw), str(args.workdir / "out")]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux reports KiB
    size = raw.stat().st_size
    print(f"data prepare yoochoose: {seconds:.0f} s, peak RSS {peak / 1024**3:.2f} GiB")
    print(f"peak / 8 GiB budget = {peak / BUDGET_BYTES:.2f};  peak / input file size = {peak / size:.2f}")


if __name__ == "__main__":
    main()
