"""A published results store reads back with `datasets.load_dataset(folder, task)`, exactly as from the Hub."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import datasets

from leaderboard_data.configs import load_task_configs
from leaderboard_data.results import RESULT_COLUMNS, ResultsPublisher, load_results_frame
from leaderboard_data.stores.base import AddFile
from leaderboard_data.stores.local import LocalStore
from tests.helpers_results import make_results

TASKS = ["text_generation", "image_classification", "sentence_similarity"]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStore, list]:
    """Three tasks published through the outbox, one of them partly compacted."""
    root = tmp_path_factory.mktemp("stores")
    requests, results_store = LocalStore(root / "requests"), LocalStore(root / "results")
    results = make_results(14, seed=21, tasks=TASKS)
    publisher = ResultsPublisher(requests, results_store, load_task_configs(), compact_after=4)
    for chunk in (results[:7], results[7:]):
        ops = [AddFile(f"outbox/{r.task}/{r.result_id}.json", r.to_json().encode()) for r in chunk]
        requests.commit(ops, parent_revision=requests.revision(), message="finish")
        publisher.publish_pending()
    return results_store, results


def test_each_task_loads_one_row_per_result(published, tmp_path: Path) -> None:
    results_store, results = published
    expected = Counter(r.task for r in results)
    for task in TASKS:
        split = datasets.load_dataset(results_store.location, task, split="train", cache_dir=str(tmp_path / "cache"))
        assert split.column_names == RESULT_COLUMNS
        assert split.num_rows == expected[task]
        assert sorted(split["result_id"]) == sorted(r.result_id for r in results if r.task == task)
        frame = load_results_frame(results_store, task)
        assert sorted(split["scored_energy_wh_per_1k"]) == sorted(frame["scored_energy_wh_per_1k"])
        assert str(split.features["finished_at"].dtype) == "timestamp[us, tz=UTC]"


def test_task_without_results_is_not_a_config(published, tmp_path: Path) -> None:
    """datasets 5.2 cannot load a zero-row split, so an empty task is left out of `configs:` and says so."""
    results_store, _ = published
    with pytest.raises(ValueError, match="text_classification"):
        datasets.load_dataset(results_store.location, "text_classification", cache_dir=str(tmp_path / "cache"))
    assert load_results_frame(results_store, "text_classification").empty
