"""Results rows, publishing from the outbox, compaction, fast loading and the dataset card."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.dataset_card import COLUMN_DESCRIPTIONS, render_dataset_card
from leaderboard_data.errors import ConflictError, RecordValidationError
from leaderboard_data.ratings import compute_thresholds, thresholds_from_json
from leaderboard_data.records import Result
from leaderboard_data.results import (
    CARD_PATH,
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    THRESHOLDS_PATH,
    ResultsPublisher,
    data_files,
    load_result_records,
    load_results_frame,
    part_path,
    result_to_row,
    results_to_table,
    table_to_parquet,
)
from leaderboard_data.stores.base import AddFile, CommitOperation, Store
from leaderboard_data.stores.local import LocalStore
from tests.helpers_results import make_result, make_results

SPEC_COLUMNS = """result_id, request_id, model_id, revision, task, config_version, precision, device, num_parameters,
size_class, hardware_class, accelerator_name, accelerator_count, driver_version, power_limit_w, cpu_model,
cpu_count, ram_gb, node, worker_id, scored_device, scored_energy_wh_per_1k, scored_energy_measured,
scored_energy_ci95_low, scored_energy_ci95_high,
gpu_energy_wh_per_1k, gpu_energy_std, gpu_energy_ci95_low, gpu_energy_ci95_high, gpu_energy_measured,
cpu_energy_wh_per_1k, cpu_energy_std, cpu_energy_ci95_low, cpu_energy_ci95_high, cpu_energy_measured,
ram_energy_wh_per_1k, ram_energy_std, ram_energy_ci95_low, ram_energy_ci95_high, ram_energy_measured,
total_energy_wh_per_1k, idle_power_w_json, decode_method, latency_s_mean, latency_s_p95,
throughput_queries_per_s, queries, input_tokens, output_tokens, images, audio_seconds,
output_tokens_per_query, input_tokens_per_query, wh_per_1k_output_tokens, wh_per_1k_output_tokens_ci95_low,
wh_per_1k_output_tokens_ci95_high, prefill_wh_per_1k_input_tokens, prefill_wh_per_1k_input_tokens_ci95_low,
prefill_wh_per_1k_input_tokens_ci95_high, tokens_json, peak_memory_mb, samples,
repetitions, unstable, co2_g_per_1k, country_iso_code, started_at, finished_at, source, cohort_protocol,
exploratory_reason, phases_json, record_json, quality_metric, quality_value, quality_ci_low, quality_ci_high,
quality_floor, quality_floor_passed, quality_unranked, quality_note, quality_dataset"""


@pytest.fixture(scope="module")
def task_configs() -> dict[str, TaskConfig]:
    return load_task_configs()


@pytest.fixture
def stores(tmp_path: Path) -> tuple[LocalStore, LocalStore]:
    return LocalStore(tmp_path / "requests"), LocalStore(tmp_path / "results")


def put_in_outbox(requests: Store, results: Sequence[Result]) -> list[str]:
    """What the queue does on finish: the result's JSON at outbox/<task>/<result_id>.json."""
    paths = [f"outbox/{r.task}/{r.result_id}.json" for r in results]
    ops: list[CommitOperation] = [AddFile(p, r.to_json().encode()) for p, r in zip(paths, results, strict=True)]
    requests.commit(ops, parent_revision=requests.revision(), message="finish")
    return paths


# --- rows -------------------------------------------------------------------------------------------------------


def test_columns_are_the_published_contract() -> None:
    assert [c.strip() for c in SPEC_COLUMNS.replace("\n", " ").split(",")] == RESULT_COLUMNS
    assert list(COLUMN_DESCRIPTIONS) == RESULT_COLUMNS


def test_row_of_a_gpu_result() -> None:
    result = make_result(scored_energy_wh_per_1k=2.0)
    row = result_to_row(result)
    assert list(row) == RESULT_COLUMNS
    assert row["scored_energy_wh_per_1k"] == 2.0
    assert row["scored_energy_measured"] is True
    assert row["unstable"] is False and result_to_row(result.model_copy(update={"unstable": True}))["unstable"] is True
    assert row["gpu_energy_wh_per_1k"] == result.figure("total", "gpu").mean_wh_per_1k  # type: ignore[union-attr]
    assert row["cpu_energy_measured"] is False
    assert row["total_energy_wh_per_1k"] == pytest.approx(2.0 + 0.4 + 0.1)
    assert row["hardware_class"] == result.hardware.hardware_class
    assert len(json.loads(row["phases_json"])) == len(result.energy)
    assert json.loads(row["idle_power_w_json"]) == {"gpu": 70.0}
    assert Result.from_json(row["record_json"]) == result
    assert row["co2_g_per_1k"] == pytest.approx(0.8)


def test_row_of_a_cpu_result_leaves_gpu_empty() -> None:
    row = result_to_row(make_result(device="cpu", carbon=None))
    assert row["scored_device"] == "cpu"
    assert row["gpu_energy_wh_per_1k"] is None and row["gpu_energy_measured"] is None
    assert row["cpu_energy_wh_per_1k"] == row["scored_energy_wh_per_1k"]
    assert row["co2_g_per_1k"] is None and row["country_iso_code"] is None
    assert row["accelerator_name"] is None


def test_naive_timestamps_are_read_as_utc() -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    row = result_to_row(make_result(started_at=naive, finished_at=naive))
    assert row["started_at"] == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    table = results_to_table([make_result(started_at=naive, finished_at=naive)])
    assert table.schema.equals(RESULT_SCHEMA)
    assert str(table.schema.field("finished_at").type) == "timestamp[us, tz=UTC]"


# --- publishing -------------------------------------------------------------------------------------------------


def test_publish_moves_outbox_to_results_once(stores: tuple[LocalStore, LocalStore], task_configs) -> None:
    requests, results_store = stores
    batch = make_results(6, seed=1)
    put_in_outbox(requests, batch)
    publisher = ResultsPublisher(requests, results_store, task_configs)

    published = publisher.publish_pending()

    assert sorted(published) == sorted(r.result_id for r in batch)
    assert requests.list_files("outbox/") == []
    assert sorted(data_files(results_store)) == sorted(part_path(r.task, r.result_id) for r in batch)
    thresholds = thresholds_from_json(results_store.read_file(THRESHOLDS_PATH))
    assert set(thresholds.tasks) == set(task_configs)
    assert "6 results so far" in results_store.read_file(CARD_PATH).decode()
    assert publisher.publish_pending() == []

    put_in_outbox(requests, batch[:2])  # the queue handed the same results over again
    assert publisher.publish_pending() == []
    assert requests.list_files("outbox/") == []
    frame = load_results_frame(results_store)
    assert sorted(frame["result_id"]) == sorted(r.result_id for r in batch)


def test_publish_finishes_a_run_that_died_between_its_two_commits(stores, task_configs) -> None:
    requests, results_store = stores
    batch = make_results(2, seed=2)
    put_in_outbox(requests, batch)
    # the results commit happened, the outbox was never cleared
    results_store.commit(
        [AddFile(part_path(r.task, r.result_id), table_to_parquet(results_to_table([r]))) for r in batch],
        parent_revision=results_store.revision(),
        message="earlier run",
    )
    assert ResultsPublisher(requests, results_store, task_configs).publish_pending() == []
    assert requests.list_files("outbox/") == []
    assert len(load_results_frame(results_store)) == 2


class ConcurrentCommitStore(LocalStore):
    """A LocalStore where someone else commits just before our first commit lands (a real race)."""

    def __init__(self, root: Path, concurrent: list[CommitOperation]) -> None:
        super().__init__(root)
        self.concurrent = concurrent
        self.conflicts = 0

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        if self.concurrent:
            injected, self.concurrent = self.concurrent, []
            super().commit(injected, parent_revision=self.revision(), message="concurrent writer")
        try:
            return super().commit(operations, parent_revision=parent_revision, message=message)
        except ConflictError:
            self.conflicts += 1
            raise


def test_conflicts_are_retried_on_both_stores(tmp_path: Path, task_configs) -> None:
    mine, theirs, late = make_results(3, seed=3)
    results_store = ConcurrentCommitStore(
        tmp_path / "results",
        [AddFile(part_path(theirs.task, theirs.result_id), table_to_parquet(results_to_table([theirs])))],
    )
    requests = ConcurrentCommitStore(tmp_path / "requests", [])
    put_in_outbox(requests, [mine])
    requests.concurrent = [AddFile(f"outbox/{late.task}/{late.result_id}.json", late.to_json().encode())]

    published = ResultsPublisher(requests, results_store, task_configs).publish_pending()

    assert published == [mine.result_id]
    assert results_store.conflicts == 1 and requests.conflicts == 1
    assert sorted(load_results_frame(results_store)["result_id"]) == sorted([mine.result_id, theirs.result_id])
    assert "2 results so far" in results_store.read_file(CARD_PATH).decode()  # the card counts their result too
    assert requests.list_files("outbox/") == [f"outbox/{late.task}/{late.result_id}.json"]  # not ours to delete


def test_a_store_that_never_settles_raises_conflict(tmp_path: Path, task_configs) -> None:
    class AlwaysMoving(LocalStore):
        def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
            raise ConflictError("moved")

    requests = LocalStore(tmp_path / "requests")
    put_in_outbox(requests, make_results(1, seed=4))
    publisher = ResultsPublisher(requests, AlwaysMoving(tmp_path / "results"), task_configs, max_attempts=3)
    with pytest.raises(ConflictError, match="3 attempts"):
        publisher.publish_pending()
    assert len(requests.list_files("outbox/")) == 1


def test_corrupt_outbox_files_are_reported_and_left(stores, task_configs, caplog) -> None:
    requests, results_store = stores
    good, misplaced, unknown_task = make_results(3, seed=5, tasks=["text_generation"])
    put_in_outbox(requests, [good])
    bad_paths = [
        "outbox/text_generation/0123456789abcdef.json",
        f"outbox/image_classification/{misplaced.result_id}.json",
        f"outbox/no_such_task/{unknown_task.result_id}.json",
        "outbox/text_generation/notes.txt",
    ]
    unknown = unknown_task.model_copy(update={"task": "no_such_task"})
    contents = [b"{not json", misplaced.to_json().encode(), unknown.to_json().encode(), b"hello"]
    requests.commit(
        [AddFile(p, c) for p, c in zip(bad_paths, contents, strict=True)],
        parent_revision=requests.revision(),
        message="corrupt",
    )
    publisher = ResultsPublisher(requests, results_store, task_configs)

    assert publisher.publish_pending() == [good.result_id]

    assert sorted(publisher.invalid) == sorted(bad_paths)
    assert sorted(requests.list_files("outbox/")) == sorted(bad_paths)
    assert all(path in caplog.text for path in bad_paths)
    assert list(load_results_frame(results_store)["result_id"]) == [good.result_id]


# --- compaction -------------------------------------------------------------------------------------------------


def test_compaction_keeps_every_result_once(stores, task_configs) -> None:
    requests, results_store = stores
    first = make_results(12, seed=6, tasks=["text_classification", "image_classification"])
    put_in_outbox(requests, first)
    publisher = ResultsPublisher(requests, results_store, task_configs, compact_after=5)

    publisher.publish_pending()  # 6 parts per task > 5: compacted automatically

    files = data_files(results_store)
    assert len(files) == 2 and all("/compacted-" in f for f in files)
    second = make_results(3, seed=7, tasks=["text_classification"])
    put_in_outbox(requests, second)
    publisher.publish_pending()
    # a part that duplicates a compacted row (e.g. written by a racing publisher) must not double the result
    dup = first[0]
    results_store.commit(
        [AddFile(part_path(dup.task, dup.result_id), table_to_parquet(results_to_table([dup])))],
        parent_revision=results_store.revision(),
        message="duplicate",
    )

    assert publisher.compact() == 4
    assert publisher.compact() == 0

    files = data_files(results_store)
    assert len(files) == 2 and all("/compacted-" in f for f in files)
    expected = sorted(r.result_id for r in first + second)
    assert sorted(load_results_frame(results_store)["result_id"]) == expected
    records = load_result_records(results_store)
    assert sorted(r.result_id for r in records) == expected
    assert {r.result_id: r for r in records}[dup.result_id] == dup


def test_compaction_retries_when_a_publisher_lands_first(tmp_path: Path, task_configs) -> None:
    old, racing = make_results(2, seed=8, tasks=["text_classification"])
    results_store = ConcurrentCommitStore(tmp_path / "results", [])
    results_store.commit(
        [AddFile(part_path(old.task, old.result_id), table_to_parquet(results_to_table([old])))],
        parent_revision=results_store.revision(),
        message="old",
    )
    racing_part = part_path(racing.task, racing.result_id)
    results_store.concurrent = [AddFile(racing_part, table_to_parquet(results_to_table([racing])))]
    publisher = ResultsPublisher(LocalStore(tmp_path / "requests"), results_store, task_configs)

    assert publisher.compact("text_classification") == 2
    assert results_store.conflicts == 1
    assert sorted(load_results_frame(results_store)["result_id"]) == sorted([old.result_id, racing.result_id])


# --- loading ----------------------------------------------------------------------------------------------------


def test_load_10000_compacted_results(tmp_path: Path) -> None:
    template = make_results(50, seed=9)
    many = [
        r.model_copy(update={"result_id": f"{i:016x}", "model_id": f"org/model-{i}"})
        for i, r in enumerate(template * 200)
    ]
    store = LocalStore(tmp_path / "results")
    ops: list[CommitOperation] = []
    for task in {r.task for r in many}:
        table = results_to_table([r for r in many if r.task == task])
        ops.append(AddFile(f"data/{task}/compacted-0000000000000000.parquet", table_to_parquet(table)))
    store.commit(ops, parent_revision=store.revision(), message="seed")

    start = time.perf_counter()
    frame = load_results_frame(store)
    elapsed = time.perf_counter() - start

    print(f"load_results_frame: {len(frame)} results in {elapsed:.3f} s")
    assert len(frame) == 10_000 and frame["result_id"].is_unique
    assert list(frame.columns) == RESULT_COLUMNS
    assert len(load_results_frame(store, "text_generation")) == sum(r.task == "text_generation" for r in many)
    assert str(frame["finished_at"].dt.tz) == "UTC"
    assert frame["gpu_energy_measured"].dtype == "boolean"


def test_empty_store_gives_empty_frame_with_columns(tmp_path: Path) -> None:
    frame = load_results_frame(LocalStore(tmp_path / "results"), "text_generation")
    assert frame.empty and list(frame.columns) == RESULT_COLUMNS


def test_a_tampered_record_is_reported_with_its_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "results")
    result = make_result()
    row = result_to_row(result)
    row["record_json"] = result.to_json().replace('"samples": 1000', '"samples": 0')
    table = pa.Table.from_pylist([row], schema=RESULT_SCHEMA)
    path = part_path(result.task, result.result_id)
    store.commit([AddFile(path, table_to_parquet(table))], parent_revision=store.revision(), message="bad")
    with pytest.raises(RecordValidationError, match=path):
        load_result_records(store)


def test_a_file_with_another_schema_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "results")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"result_id": ["abcdef0123"]}), buffer)
    path = "data/text_generation/part-abcdef0123.parquet"
    store.commit([AddFile(path, buffer.getvalue())], parent_revision=store.revision(), message="bad")
    with pytest.raises(RecordValidationError, match="schema"):
        load_results_frame(store)


def test_refresh_metadata_writes_card_once(stores, task_configs) -> None:
    requests, results_store = stores
    publisher = ResultsPublisher(requests, results_store, task_configs)
    assert publisher.refresh_metadata() == 2
    assert publisher.refresh_metadata() == 0
    assert results_store.list_files() == [CARD_PATH, THRESHOLDS_PATH]


def test_a_config_change_unrates_old_results_and_refresh_redraws_their_badges(stores, task_configs) -> None:
    """After a config bump no new result may come for a task for a while; its badges must not keep old stars."""
    requests, results_store = stores
    results = [
        make_result(task="text_classification", model_id=f"org/m{i}", device="cpu", scored_energy_wh_per_1k=1.0 + i)
        for i in range(5)
    ]
    put_in_outbox(requests, results)
    ResultsPublisher(requests, results_store, task_configs).publish_pending()
    badge = "badges/org/m0/text_classification.svg"
    assert "5 of 5 stars" in results_store.read_file(badge).decode()
    bumped = dict(task_configs)
    bumped["text_classification"] = task_configs["text_classification"].model_copy(update={"config_version": "99.0"})
    publisher = ResultsPublisher(requests, results_store, bumped)
    changed = publisher.refresh_metadata()
    assert changed == 2 + 5  # card, thresholds and the five badges
    assert "not rated (measured under config" in results_store.read_file(badge).decode()
    thresholds = json.loads(results_store.read_file(THRESHOLDS_PATH))
    assert thresholds["tasks"]["text_classification"]["config_version"] == "99.0"
    assert publisher.refresh_metadata() == 0


# --- card -------------------------------------------------------------------------------------------------------


def _front_matter(card: str) -> dict:
    _, meta, _ = card.split("---\n", 2)
    return yaml.safe_load(meta)


def test_card_lists_configs_columns_thresholds_and_usage(task_configs) -> None:
    frame = pd.DataFrame([result_to_row(r) for r in make_results(30, seed=10, tasks=["text_classification"])])
    thresholds = compute_thresholds(frame, task_configs)
    card = render_dataset_card(task_configs, frame, thresholds, repo_id="acme/results")

    meta = _front_matter(card)
    assert meta["configs"] == [
        {
            "config_name": "text_classification",
            "data_files": [{"split": "train", "path": "data/text_classification/*.parquet"}],
        },
        {"config_name": "frontier", "data_files": [{"split": "train", "path": "frontier/frontier.parquet"}]},
    ]
    assert meta["license"] and meta["pretty_name"] and meta["tags"]
    assert all(f"| `{column}` |" in card for column in RESULT_COLUMNS)
    assert all(f"| `{task}` |" in card for task in task_configs)  # every task is described
    for key, cohort in thresholds.cohorts.items():
        assert f"| `{key}` |" in card
        assert cohort.cuts_wh_per_1k is None or f"{cohort.cuts_wh_per_1k[0]:.6g}" in card
    assert 'load_dataset("acme/results", "text_classification", split="train")' in card
    for word in ("measured", "estimated", "idle", "95% confidence interval", "hardware_class"):
        assert word in card


def test_card_from_counts_without_results(task_configs) -> None:
    thresholds = compute_thresholds(pd.DataFrame(columns=RESULT_COLUMNS), task_configs)
    card = render_dataset_card(task_configs, {}, thresholds)
    assert "configs" not in _front_matter(card)
    assert "No cohort has results yet." in card
    assert "0 results so far" in card
