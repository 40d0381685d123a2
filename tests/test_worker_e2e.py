"""The real worker process against a LocalStore: several tasks finish, a bad request fails with its reason,
and a SIGTERM mid-benchmark hands the request back for a second worker to finish, with exactly one result."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import datasets
import pytest

from leaderboard_data.records import ErrorKind, RequestStatus
from leaderboard_data.results import load_results_frame
from tests.helpers_deployment import Deployment, make_deployment, worker_command

pytestmark = pytest.mark.slow

TASKS = ("text_classification", "extractive_qa", "text_generation")


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    dep = make_deployment(tmp_path / "store")
    for task in TASKS:
        dep.add_dataset(task)
        dep.add_model(f"acme/{task}-tiny", task)
    return dep


def test_worker_finishes_every_request_and_fails_the_bad_one(deployment: Deployment) -> None:
    good = [deployment.submit(f"acme/{task}-tiny", task) for task in TASKS]
    # A classifier queued for text generation passes the queue (it checks no models) but not the worker.
    queue = deployment.queue()
    classifier = deployment.stores.models.info("acme/text_classification-tiny")
    bad = queue.submit(
        "acme/text_classification-tiny",
        task="text_generation",
        revision=classifier.sha,
        precision="float32",
        submitter="mallory",
    ).request_id

    run = subprocess.run(
        worker_command(deployment.spec, "--exit-when-empty", "--samples", "3", "--repetitions", "2", "--poll", "0.2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "claimed" in run.stderr and "published" in run.stderr

    by_id = {r.request_id: r for r in queue.list_requests()}
    for request_id in good:
        assert by_id[request_id].status == RequestStatus.FINISHED, by_id[request_id]
    failed = by_id[bad]
    assert failed.status == RequestStatus.FAILED
    assert failed.error_kind == ErrorKind.WRONG_TASK
    assert failed.error_message and "text_generation" in failed.error_message

    frame = load_results_frame(deployment.stores.results)
    assert sorted(frame["request_id"]) == sorted(good)
    for task in TASKS:
        rows = datasets.load_dataset(str(deployment.stores.results.location), task, split="train")
        assert rows.num_rows == 1
        assert rows[0]["model_id"] == f"acme/{task}-tiny"
        assert rows[0]["scored_energy_wh_per_1k"] > 0


def _wait_for_status(deployment: Deployment, request_id: str, status: RequestStatus, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if deployment.queue().get(request_id).status == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{request_id} never reached {status}: {deployment.queue().get(request_id)}")


def test_sigterm_mid_benchmark_returns_the_request_and_a_second_worker_finishes_it(deployment: Deployment) -> None:
    request_id = deployment.submit("acme/text_generation-tiny", "text_generation")
    first = subprocess.Popen(
        worker_command(deployment.spec, "--exit-when-empty", "--samples", "12", "--repetitions", "50"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_status(deployment, request_id, RequestStatus.RUNNING, 120)
        time.sleep(3)  # well inside the benchmark: 50 repetitions take minutes
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr[-3000:]
    assert "released" in stderr
    request = deployment.queue().get(request_id)
    assert request.status == RequestStatus.PENDING
    assert request.lease is None
    assert load_results_frame(deployment.stores.results).empty

    second = subprocess.run(
        worker_command(deployment.spec, "--exit-when-empty", "--samples", "3", "--repetitions", "2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert deployment.queue().get(request_id).status == RequestStatus.FINISHED
    frame = load_results_frame(deployment.stores.results)
    assert list(frame["request_id"]) == [request_id]
