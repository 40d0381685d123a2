"""The `energy-score` command line, run as a real process against a real folder store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers_deployment import Deployment, energy_score, make_deployment


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    dep = make_deployment(tmp_path / "store")
    dep.add_model("acme/classifier", "text_classification")
    return dep


def test_every_command_explains_itself() -> None:
    top = energy_score("--help")
    assert top.returncode == 0
    for command in (
        "submit",
        "queue",
        "results",
        "bench",
        "run",
        "publish",
        "cancel",
        "serve",
        "deploy-space",
        "demo",
        "import",
        "verify",
    ):
        assert command in top.stdout
        helped = energy_score(command, "--help")
        assert helped.returncode == 0, helped.stderr
        assert "--store" in helped.stdout


def test_submit_prints_the_request_id_and_queue_lists_it(deployment: Deployment) -> None:
    submitted = energy_score("submit", "acme/classifier", "--task", "text_classification", "--store", deployment.spec)
    assert submitted.returncode == 0, submitted.stderr
    request_id = submitted.stdout.strip()
    assert len(request_id) == 16

    listed = energy_score("queue", "--store", deployment.spec, "--format", "json")
    rows = json.loads(listed.stdout)
    assert [(r["request_id"], r["status"], r["model_id"]) for r in rows] == [(request_id, "PENDING", "acme/classifier")]
    assert len(rows[0]["revision"]) == 64  # pinned to the model folder's content hash

    table = energy_score("queue", "--store", deployment.spec)
    assert request_id in table.stdout and "PENDING" in table.stdout

    again = energy_score("submit", "acme/classifier", "--task", "text_classification", "--store", deployment.spec)
    assert again.returncode == 2
    assert request_id in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("model_id", "task", "expected"),
    [
        ("../../etc/passwd", "text_classification", "model id"),
        ("acme/" + "x" * 500, "text_classification", "model id"),
        ("acme/classifier", "poetry", "unknown task"),
        ("acme/missing", "text_classification", "acme/missing"),
        ("acme/classifier", "text_generation", "text_generation"),
    ],
)
def test_bad_submissions_exit_non_zero_with_one_line_and_write_nothing(
    deployment: Deployment, model_id: str, task: str, expected: str
) -> None:
    before = _tree(deployment.root / "requests")
    run = energy_score("submit", model_id, "--task", task, "--store", deployment.spec)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected.lower() in lines[0].lower()
    assert _tree(deployment.root / "requests") == before


def test_results_on_an_empty_store(deployment: Deployment) -> None:
    run = energy_score("results", "--store", deployment.spec, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []
    assert energy_score("results", "--task", "nope", "--store", deployment.spec).returncode == 2


def test_bench_prints_a_summary_and_writes_the_record(deployment: Deployment, tmp_path: Path) -> None:
    from leaderboard_data.configs import Pipeline
    from leaderboard_data.records import Result
    from runner.zoo import write_dataset

    dataset = write_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "data", 4)
    out = tmp_path / "result.json"
    run = energy_score(
        "bench",
        str(deployment.root / "models" / "acme" / "classifier"),
        "--task",
        "text_classification",
        "--samples",
        "3",
        "--repetitions",
        "2",
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--store",
        deployment.spec,
        "--added-rounds-budget-s",
        "0",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Wh/1k" in run.stdout and "estimated" in run.stdout
    assert "not measured: gpu" in run.stdout
    result = Result.from_json(out.read_text())
    assert result.task == "text_classification" and result.samples == 3 and result.repetitions == 2
    # `bench` runs one benchmark in its own process: the config's runtime is applied before torch starts.
    assert result.runtime is not None and result.runtime.intra_op_threads == 1
    assert result.runtime.omp_wait_policy == "passive" and result.runtime.pinned_cores is not None
    assert "runtime: 1 thread(s), wait policy passive, cores" in run.stdout


def test_bench_beside_a_busy_neighbour_fails_with_the_reason_and_records_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Processes keeping every core busy: the gated bench never publishes, exits 1 and names the load."""
    import os
    import subprocess
    import sys

    from leaderboard_data.configs import Pipeline
    from runner.zoo import write_dataset

    dataset = write_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "data", 4)
    out = tmp_path / "failure.json"
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        run = energy_score(
            "bench", str(deployment.root / "models" / "acme" / "classifier"), "--task", "text_classification",
            "--samples", "2", "--repetitions", "2", "--dataset", str(dataset), "--out", str(out),
            "--store", deployment.spec, "--load-gate", "gate", "--quiet-wait-s", "1",
        )  # fmt: skip
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert run.returncode == 1
    assert "benchmark failed: machine_busy: idle baseline contaminated: other processes used" in run.stderr
    record = json.loads(out.read_text())
    assert record["failed"] is True and record["error_kind"] == "machine_busy"
    assert "busiest other processes: pid" in record["error_message"]
