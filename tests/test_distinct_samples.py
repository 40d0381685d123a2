"""`--samples` beyond the dataset's rows: rows are reused, and the result and the CLI say how many were distinct."""

from __future__ import annotations

import pytest

from leaderboard_data.configs import load_task_configs
from leaderboard_data.records import Result
from runner.bench_command import reused_rows_warning, summary_table
from runner.engine import BenchmarkSpec, run_benchmark
from runner.tasks.base import cycle_rows
from tests import helpers_engine as h


def test_cycle_rows_reuses_in_order() -> None:
    rows = [{"i": 0}, {"i": 1}, {"i": 2}]
    assert [r["i"] for r in cycle_rows(rows, 7)] == [0, 1, 2, 0, 1, 2, 0]
    assert cycle_rows(rows, 2) == rows[:2]
    assert cycle_rows([], 5) == []


@pytest.fixture(scope="module")
def reused(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """10 samples asked of a 3-row dataset (the audit: 1,000 queries from the demo's 64 rows, silently)."""
    root = tmp_path_factory.mktemp("distinct")
    spec = BenchmarkSpec(
        model_id="tests/mlp",
        model_dir=h.build_mlp(root / "mlp"),
        revision="0" * 40,
        task_config=h.task_config("text_classification"),
        dataset_path=str(h.write_samples(root / "data", rows=3)),
        samples=10,
        worker_id="test-worker",
    )
    return run_benchmark(spec, task_class=h.MlpTask)


def test_the_result_records_distinct_rows(reused: Result) -> None:
    assert (reused.samples, reused.distinct_samples) == (10, 3)
    assert Result.from_json(reused.to_json()).distinct_samples == 3


def test_the_cli_output_says_rows_were_reused(reused: Result) -> None:
    assert "10 queries in" in summary_table(reused) and "(3 distinct dataset rows)" in summary_table(reused)
    warning = reused_rows_warning(reused)
    assert warning is not None and "holds 3 distinct rows" in warning and "10 samples" in warning


def test_no_warning_when_the_dataset_is_large_enough(reused: Result) -> None:
    assert reused_rows_warning(reused.model_copy(update={"samples": 3})) is None
    assert reused_rows_warning(reused.model_copy(update={"distinct_samples": None})) is None


def test_demo_datasets_hold_every_config_sample_count() -> None:
    """The demo's local datasets stand in for the configs' datasets: `bench` at a config's count reuses no row."""
    from runner.demo import DEMO_DATASET_ROWS, DEMO_MODELS

    configs = load_task_configs()
    assert all(configs[demo.task].num_samples <= DEMO_DATASET_ROWS for demo in DEMO_MODELS)
