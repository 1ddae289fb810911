"""How hard is the synthetic data? Popularity, first-order Markov and a plain GRU side by side on one split.

The GRU here is a deliberately plain probe (embedding -> GRU -> full softmax, Adam, padded sessions), not our
GRU4Rec: if even it beats Markov, the sequential structure is learnable beyond first order.

    python benchmarks/synth_difficulty.py --epochs 6
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _data_util import markov_ranking, next_item_pairs  # noqa: E402

from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits  # noqa: E402


def recall_mrr(ranks: np.ndarray, k: int = 20) -> tuple[float, float]:
    hit = ranks <= k
    return float(hit.mean()), float(np.where(hit, 1.0 / ranks, 0.0).mean())


def baseline_ranks(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
    prev, target = next_item_pairs(test)
    popular = list(train["ItemId"].value_counts().index[:20])
    markov = markov_ranking(train)
    pop = [popular.index(t) + 1 if t in popular else 10**9 for t in target]
    mk = [markov(p).index(t) + 1 if t in markov(p) else 10**9 for p, t in zip(prev, target, strict=True)]
    return {"popularity": np.array(pop), "markov": np.array(mk)}


def gru_ranks(train: pd.DataFrame, test: pd.DataFrame, epochs: int, hidden: int = 128) -> np.ndarray:
    torch.manual_seed(0)
    ids = {v: i + 1 for i, v in enumerate(np.sort(train["ItemId"].unique()))}  # 0 pads
    n = len(ids) + 1

    def sessions(df: pd.DataFrame) -> list[np.ndarray]:
        return [np.array([ids[i] for i in g["ItemId"]]) for _, g in df.groupby("SessionId", sort=True)]

    def pad(batch: list[np.ndarray]) -> torch.Tensor:
        x = np.zeros((len(batch), max(map(len, batch))), np.int64)
        for row, s in enumerate(batch):
            x[row, : len(s)] = s
        return torch.from_numpy(x)

    emb, gru, out = (
        torch.nn.Embedding(n, hidden, padding_idx=0),
        torch.nn.GRU(hidden, hidden, batch_first=True),
        torch.nn.Linear(hidden, n),
    )
    params = [*emb.parameters(), *gru.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, 2e-3)
    train_s, test_s = sessions(train), sessions(test)
    for epoch in range(epochs):
        for b in np.array_split(np.random.default_rng(epoch).permutation(len(train_s)), max(1, len(train_s) // 64)):
            x = pad([train_s[i] for i in b])
            logits = out(gru(emb(x[:, :-1]))[0])  # (B, L-1, n)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n), x[:, 1:].reshape(-1), ignore_index=0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    ranks = []
    with torch.no_grad():
        for b in range(0, len(test_s), 256):
            x = pad(test_s[b : b + 256])
            logits = out(gru(emb(x[:, :-1]))[0])
            logits[..., 0] = -torch.inf
            y = x[:, 1:]
            rank = (logits > logits.gather(2, y.unsqueeze(-1))).sum(-1) + 1  # conservative ties
            ranks.append(rank[y > 0].numpy())
    return np.concatenate(ranks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_synthetic_splits(folder, SynthConfig(seed=args.seed))
        train, test = (pd.read_csv(p, sep="\t") for p in (paths.train_full, paths.test))
    results = baseline_ranks(train, test) | {f"plain GRU ({args.epochs} epochs)": gru_ranks(train, test, args.epochs)}
    markov_recall = recall_mrr(results["markov"])[0]
    for name, ranks in results.items():
        recall, mrr = recall_mrr(ranks)
        print(f"{name:24s} recall@20 {recall:.4f}  mrr@20 {mrr:.4f}  recall / markov {recall / markov_recall:.2f}")


if __name__ == "__main__":
    main()
