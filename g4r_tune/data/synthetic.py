"""A synthetic click log with power-law popularity and learnable, partly long-range sequential structure.

How a session is generated (all draws from one seeded generator, vectorised over sessions step by step):
- items belong to topics; item popularity follows a power law (Zipf, exponent ``_ZIPF``);
- every item has a short successor list for each of ``_VARIANTS`` hidden session "intents"; the successors for
  intent v are items of intent class v, mostly in the item's topic, some in the next topic (topic drift);
- each session draws an intent once; every step goes back to the item before the last (``_P_BACK``), or follows
  the current item's successor list for that intent (``_P_FOLLOW``), or browses a popular item of the current topic
  (``_P_TOPIC``), or clicks a globally popular item.
A first-order Markov model cannot see going back, and after a browsing or noise click it sees the intents mixed; a
sequence model can remember both from earlier clicks, so beating Markov is possible but not trivial, while
popularity is far behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from g4r_tune.data.loader import ITEM, SESSION, TIME
from g4r_tune.data.splits import DAY, ProgressFn, SplitConfig, SplitPaths, make_splits, write_splits
from g4r_tune.errors import ConfigError, must_be

_ZIPF = 1.0  # popularity exponent: weight of the r-th most popular item ~ r ** -_ZIPF
_ITEMS_PER_TOPIC = 40
_VARIANTS = 3  # hidden session intents
_SUCCESSORS = 4  # successor list length per item and intent
_SLOT_WEIGHTS = np.array([0.45, 0.25, 0.18, 0.12])
_P_DRIFT = 0.25  # share of successors taken from the neighbouring topic
_P_BACK, _P_FOLLOW, _P_TOPIC = 0.1, 0.55, 0.22  # the rest (0.13) is global popularity noise
_MEAN_EXTRA_LENGTH = 4.0  # session length = 2 + geometric with this mean
_START = 1_704_067_200.0  # 2024-01-01 00:00:00 UTC
SYNTH_SPLIT = SplitConfig(test_days=1.0, valid_days=1.0, min_item_support=5, min_session_length=2, dedup=True)


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed of a synthetic click log (the default trains in seconds)."""

    n_items: int = 2000
    n_sessions: int = 8000
    days: float = 7.0
    seed: int = 42

    def __post_init__(self) -> None:
        _check_int("n_items", self.n_items, 2 * _ITEMS_PER_TOPIC)
        _check_int("n_sessions", self.n_sessions, 50)
        _check_int("seed", self.seed, 0)
        if isinstance(self.days, bool) or not isinstance(self.days, int | float) or not self.days >= 3:
            raise ConfigError(must_be("days", self.days, ">= 3 (one day each for test and validation, the rest train)"))


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(must_be(name, value, f"an integer >= {minimum}"))


def generate_clicks(cfg: SynthConfig = SynthConfig()) -> pd.DataFrame:
    """Click log with columns SessionId, ItemId (1-based ints), Time (integer seconds), sorted by session start."""
    rng = np.random.default_rng(cfg.seed)
    n_items, n_topics = cfg.n_items, max(2, cfg.n_items // _ITEMS_PER_TOPIC)
    popularity = np.empty(n_items)
    popularity[rng.permutation(n_items)] = np.arange(1, n_items + 1, dtype=np.float64) ** -_ZIPF
    popularity /= popularity.sum()
    topic = rng.integers(0, n_topics, size=n_items)
    item_intent = rng.integers(0, _VARIANTS, size=n_items)
    in_topic = _TopicSampler(topic, popularity, n_topics)
    # successors under intent v are items of intent class v: a sequence model can carry the session's intent
    # past a browsing or noise click, while a first-order model only sees the current item
    successor_pool = _TopicSampler(topic * _VARIANTS + item_intent, np.sqrt(popularity), n_topics * _VARIANTS)

    # successors[v, i, k]: the k-th successor of item i under intent v
    shape = (_VARIANTS, n_items, _SUCCESSORS)
    drift = rng.random(shape) < _P_DRIFT
    successor_topic = np.where(drift, (topic[None, :, None] + 1) % n_topics, topic[None, :, None])
    groups = successor_topic * _VARIANTS + np.arange(_VARIANTS)[:, None, None]
    successors = successor_pool.sample(groups.ravel(), rng).reshape(shape)

    n = cfg.n_sessions
    lengths = 2 + rng.geometric(1.0 / (1.0 + _MEAN_EXTRA_LENGTH), size=n) - 1
    intent = rng.integers(0, _VARIANTS, size=n)
    first_topic = topic[rng.choice(n_items, size=n, p=popularity)]
    current = in_topic.sample(first_topic, rng)
    clicks = np.zeros((n, int(lengths.max())), dtype=np.int64)
    clicks[:, 0] = current
    for step in range(1, clicks.shape[1]):
        u = rng.random(n)
        slot = rng.choice(_SUCCESSORS, size=n, p=_SLOT_WEIGHTS)
        followed = successors[intent, current, slot]
        browsed = in_topic.sample(topic[current], rng)
        noise = rng.choice(n_items, size=n, p=popularity)
        back = clicks[:, step - 2] if step >= 2 else followed  # going back to the item before the last
        current = np.select(
            [u < _P_BACK, u < _P_BACK + _P_FOLLOW, u < _P_BACK + _P_FOLLOW + _P_TOPIC], [back, followed, browsed], noise
        )
        clicks[:, step] = current

    starts = np.sort(_START + rng.random(n) * (cfg.days * DAY - 3600.0))
    mask = np.arange(clicks.shape[1])[None, :] < lengths[:, None]
    gaps = np.where(mask, 5.0 + rng.exponential(60.0, size=clicks.shape), 0.0)
    gaps[:, 0] = 0.0
    times = np.floor(starts[:, None] + np.cumsum(gaps, axis=1))
    session_ids = np.broadcast_to(np.arange(1, n + 1)[:, None], clicks.shape)
    return pd.DataFrame(
        {SESSION: session_ids[mask], ITEM: clicks[mask] + 1, TIME: times[mask].astype(np.int64).astype(np.float64)}
    )


class _TopicSampler:
    """Draws an item of a given topic with probability proportional to ``weights`` (vectorised)."""

    def __init__(self, topic: np.ndarray, weights: np.ndarray, n_topics: int) -> None:
        self.order = np.argsort(topic, kind="stable")
        sorted_topic = topic[self.order]
        w = weights[self.order]
        topic_total = np.bincount(sorted_topic, weights=w, minlength=n_topics)
        within = np.cumsum(w) - np.r_[0.0, np.cumsum(topic_total)][sorted_topic]
        # cumulative position: topic t occupies (t, t + 1]; empty topics fall back to the next non-empty one
        self.cdf = sorted_topic + within / np.where(topic_total[sorted_topic] > 0, topic_total[sorted_topic], 1.0)
        self.cdf[-1] = np.inf

    def sample(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = topics + rng.random(len(topics))
        return self.order[np.minimum(np.searchsorted(self.cdf, u, side="left"), len(self.order) - 1)]


def write_synthetic_splits(
    outdir: str | Path, cfg: SynthConfig = SynthConfig(), name: str = "synth", progress: ProgressFn | None = None
) -> SplitPaths:
    """Generate clicks and write ``<name>_{train_full,test,train_tr,train_valid}.tsv`` + ``<name>_summary.json``.

    Uses the same cleaning and split rule as ``data prepare`` (1 test day, 1 validation day).
    """
    if progress:
        progress("generating", 0, None)
    tables, summary = make_splits(generate_clicks(cfg), SYNTH_SPLIT, progress)
    summary = {"source": "synthetic", "config": cfg.__dict__.copy(), **summary}
    return write_splits(tables, summary, outdir, name, progress)
