"""Failures that are not the model's fault: released with a pause, never charged, and the worker stays up.

Real worker, real LocalStore, real benchmark child processes; the only stand-ins are at boundaries a test cannot
reach: a Hub download that drops, and a Hub upload backend (Xet) that raises.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leaderboard_data.model_source import ModelInfo, ModelSource
from leaderboard_data.records import NOT_MODELS_FAULT, ErrorKind, RequestStatus, is_models_fault
from leaderboard_data.results import load_results_frame
from leaderboard_data.stores import CommitOperation, LocalStore
from runner.worker import Worker, WorkerOptions
from tests.helpers_deployment import Deployment, make_deployment

TASK = "text_classification"


def _options(**changes: object) -> WorkerOptions:
    base = WorkerOptions(
        worker_id="w1", poll_s=0.05, exit_when_empty=True, samples=3, repetitions=1, max_store_retries=1
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _deployment(tmp_path: Path, *, dataset: bool, models: int = 1) -> tuple[Deployment, list[str]]:
    deployment = make_deployment(tmp_path / "store")
    if dataset:
        deployment.add_dataset(TASK)
    ids = []
    for i in range(models):
        deployment.add_model(f"acme/tiny-{i}", TASK)
        ids.append(deployment.submit(f"acme/tiny-{i}", TASK))
    return deployment, ids


def _assert_released_uncharged(deployment: Deployment, request_id: str, reason: str) -> None:
    request = deployment.queue().get(request_id)
    assert request.status == RequestStatus.PENDING, request
    assert request.attempts == 0  # the submitter's attempt is not spent
    assert request.infrastructure_failures == 1
    assert request.not_before is not None and request.not_before > datetime.now(UTC)
    assert reason in request.history[-1].note


def test_infrastructure_kinds_are_not_the_models_fault() -> None:
    assert {ErrorKind.DATASET_UNAVAILABLE, ErrorKind.INFRASTRUCTURE} <= NOT_MODELS_FAULT
    assert not is_models_fault(ErrorKind.DATASET_UNAVAILABLE)
    assert is_models_fault(ErrorKind.WRONG_TASK) and is_models_fault(ErrorKind.OUT_OF_MEMORY)


def test_a_dataset_the_worker_cannot_read_releases_the_request_without_charging_it(tmp_path: Path) -> None:
    # No local copy of the task's dataset and HF_HUB_OFFLINE=1: the benchmark child cannot read its inputs.
    deployment, [request_id] = _deployment(tmp_path, dataset=False)

    stats = Worker(deployment.stores, deployment.configs, _options()).run()

    assert stats.failed == 0 and stats.infrastructure_failures == 1
    _assert_released_uncharged(deployment, request_id, "cannot read dataset")
    # Held back until its pause is over: an immediate claim does not pick it up again.
    assert deployment.queue().claim("w2") is None


class _DroppingDownloads(ModelSource):
    """The Hub answers the model's info, then its storage backend drops the download (as hf_xet raises)."""

    def __init__(self, inner: ModelSource) -> None:
        self.inner = inner

    def info(self, model_id: str, revision: str | None = None) -> ModelInfo:
        return self.inner.info(model_id, revision)

    def download(self, model_id: str, sha: str, dest: Path | None = None) -> Path:
        raise ConnectionResetError("xet: connection reset by peer while fetching model.safetensors")


def test_a_transient_download_failure_is_not_a_permanent_failure(tmp_path: Path) -> None:
    deployment, [request_id] = _deployment(tmp_path, dataset=True)
    stores = dataclasses.replace(deployment.stores, models=_DroppingDownloads(deployment.stores.models))

    stats = Worker(stores, deployment.configs, _options()).run()

    assert stats.failed == 0
    _assert_released_uncharged(deployment, request_id, "model fetch failed: ConnectionResetError")


def test_repeated_infrastructure_failures_pause_the_worker(tmp_path: Path) -> None:
    deployment, ids = _deployment(tmp_path, dataset=True, models=3)
    stores = dataclasses.replace(deployment.stores, models=_DroppingDownloads(deployment.stores.models))
    worker = Worker(stores, deployment.configs, _options(pause_after_infra_failures=2, infra_pause_s=3600))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        for _ in range(600):
            if worker.stats.pauses:
                break
            thread.join(0.1)
    finally:
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()  # paused, yet stopped cleanly when asked
    assert worker.stats.pauses == 1 and worker.stats.infrastructure_failures == 2
    requests = [deployment.queue().get(i) for i in ids]
    assert [r.attempts for r in requests] == [0, 0, 0]
    untouched = [r for r in requests if r.infrastructure_failures == 0]
    assert len(untouched) == 1 and len(untouched[0].history) == 1  # the pause kept the worker off the third


class _UploadBackendDown(LocalStore):
    """A results repository whose upload backend fails the first `failures` commits (hf_xet raises RuntimeError)."""

    failures = 1

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("xet upload failed: 502 from the CAS server")
        return super().commit(operations, parent_revision=parent_revision, message=message)


@pytest.mark.slow
def test_a_failed_publish_never_stops_the_worker_and_is_retried(tmp_path: Path) -> None:
    deployment, [request_id] = _deployment(tmp_path, dataset=True)
    results = _UploadBackendDown(deployment.stores.results.location)
    stores = dataclasses.replace(deployment.stores, results=results)

    stats = Worker(stores, deployment.configs, _options(publish_retry_s=0.0)).run()

    assert stats.finished == 1 and stats.publish_failures == 1
    assert deployment.queue().get(request_id).status == RequestStatus.FINISHED
    frame = load_results_frame(deployment.stores.results)
    assert frame["request_id"].tolist() == [request_id]
