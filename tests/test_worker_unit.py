"""The worker in-process: a request whose lease runs out while its model is being fetched does not kill it."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from leaderboard_data.errors import TransientStoreError
from leaderboard_data.model_source import ModelInfo, ModelSource
from leaderboard_data.queue import RequestQueue
from leaderboard_data.records import ErrorKind, RequestStatus
from runner.engine import BenchmarkSpec
from runner.errors import BenchmarkFailure
from runner.worker import Worker, WorkerOptions
from tests.helpers_deployment import make_deployment


class _FetchOutlivesLease(ModelSource):
    """A model source whose download stalls past the lease, lets another worker take over, then fails."""

    def __init__(self, inner: ModelSource, queue: RequestQueue) -> None:
        self.inner = inner
        self.queue = queue

    def info(self, model_id: str, revision: str | None = None) -> ModelInfo:
        return self.inner.info(model_id, revision)

    def download(self, model_id: str, sha: str, dest: Path | None = None) -> Path:
        time.sleep(0.6)
        assert self.queue.claim("other-worker") is not None  # reaps the expired lease and claims it
        raise TransientStoreError("the Hub timed out while fetching the weights")


def test_lease_lost_during_model_fetch_leaves_the_worker_running(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    deployment.add_model("acme/classifier", "text_classification")
    request_id = deployment.submit("acme/classifier", "text_classification")
    other_queue = RequestQueue(deployment.stores.requests, deployment.configs, lease_s=600)
    stores = dataclasses.replace(deployment.stores, models=_FetchOutlivesLease(deployment.stores.models, other_queue))
    options = WorkerOptions(
        worker_id="slow-worker", lease_s=0.3, max_jobs=1, poll_s=0.1, max_store_retries=1, exit_when_empty=True
    )

    Worker(stores, deployment.configs, options).run()

    request = deployment.queue().get(request_id)
    assert request.status == RequestStatus.RUNNING
    assert request.lease is not None and request.lease.worker_id == "other-worker"


class _BusyMachine:
    """An executor whose benchmarks fail because the machine never got quiet (as the engine raises it)."""

    def capacity(self) -> int:
        return 1

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> _BusyMachine:
        return self

    def poll(self, timeout_s: float) -> None:
        raise BenchmarkFailure(ErrorKind.MACHINE_BUSY, "idle baseline contaminated: pid 99 stress-ng (12.0 CPU-s)")

    def terminate(self) -> None:
        return None


def test_machine_busy_releases_the_request_without_charging_the_model(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    deployment.add_model("acme/classifier", "text_classification")
    request_id = deployment.submit("acme/classifier", "text_classification")
    options = WorkerOptions(worker_id="w", max_jobs=1, poll_s=0.1, exit_when_empty=True)

    stats = Worker(deployment.stores, deployment.configs, options, executor=_BusyMachine()).run()

    request = deployment.queue().get(request_id)
    assert stats.failed == 0 and stats.infrastructure_failures == 1
    assert request.status == RequestStatus.PENDING and request.attempts == 0 and request.error_kind is None
    assert "machine_busy: idle baseline contaminated" in request.history[-1].note
    assert "pid 99 stress-ng" in request.history[-1].note  # the reason names the load
