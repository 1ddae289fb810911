"""The final check's retrain + evaluate (Ray-free path; the Ray tasks run in the slow end-to-end test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from g4r_tune.config import Hyperparams
from g4r_tune.data.synthetic import SynthConfig, write_synthetic_splits
from g4r_tune.errors import DataError
from g4r_tune.retrain import load_split, run_final_check_serial


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory):
    return write_synthetic_splits(tmp_path_factory.mktemp("d"), SynthConfig(n_items=80, n_sessions=300, days=4, seed=5))


def test_serial_final_check_retrains_each_seed_and_is_reproducible(splits) -> None:
    params = Hyperparams(loss="cross-entropy", layers=(16,), batch_size=16, n_epochs=2, n_sample=16)
    seeds = [1, 2]
    first = run_final_check_serial([params], Path(splits.train_full), Path(splits.test), seeds)
    assert len(first) == 1 and first[0].errors == []
    assert [r.seed for r in first[0].runs] == seeds and all(r.epochs == 2 for r in first[0].runs)
    recalls = first[0].values("recall@20")
    assert len(recalls) == 2 and all(0.0 <= v <= 1.0 for v in recalls)
    again = run_final_check_serial([params], Path(splits.train_full), Path(splits.test), [1])
    assert again[0].values("recall@20")[0] == recalls[0]  # seeded CPU training is reproducible


def test_a_diverging_config_is_recorded_not_raised(splits) -> None:
    params = Hyperparams(loss="cross-entropy", layers=(8,), batch_size=16, n_epochs=2, n_sample=16, learning_rate=1e38)
    result = run_final_check_serial([params], Path(splits.train_full), Path(splits.test), [1])
    assert result[0].runs == [] and "diverged" in result[0].errors[0]


def test_test_file_without_known_items_is_a_clear_error(splits, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.tsv"
    foreign.write_text("SessionId\tItemId\tTime\n1\t999999\t10\n1\t999998\t20\n")
    with pytest.raises(DataError, match="unknown"):
        load_split(Path(splits.train_full), foreign)
