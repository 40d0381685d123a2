"""Workers that die: SIGKILL mid-benchmark (another worker completes the request once the lease expires), a
result measured but not committed (it survives on disk and is published on restart), and a store that fails
the finish commit (the measured result is kept and committed later)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from leaderboard_data.errors import TransientStoreError
from leaderboard_data.records import Request, RequestStatus, Result, utc_now
from leaderboard_data.stores import LocalStore, Stores
from leaderboard_data.stores.base import CommitOperation
from runner.engine import BenchmarkSpec
from runner.worker import Worker, WorkerOptions
from tests.helpers_reliability import Rig, audit, benchmark_children, kill_hard, local_rig
from tests.helpers_results import make_result

pytestmark = pytest.mark.slow


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return local_rig(tmp_path / "store")


def result_for(request: Request, worker_id: str) -> Result:
    return result_of(request.request_id, request.model_id, request.revision, request.task, worker_id)


def result_of(request_id: str | None, model_id: str, revision: str, task: str, worker_id: str) -> Result:
    """A valid CPU result for one request, as a worker would have measured it."""
    return make_result(
        request_id=request_id,
        model_id=model_id,
        revision=revision,
        task=task,
        device="cpu",
        precision="float32",
        worker_id=worker_id,
    )


def wait_until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_benchmark_then_another_worker_completes_after_the_lease(rig: Rig) -> None:
    [request_id] = rig.submit_copies(1)
    queue = rig.queue()
    first = rig.worker("--lease", "4", "--repetitions", "200", worker_id="doomed")  # runs far longer than the test
    try:
        wait_until(lambda: benchmark_children(first.pid), 180, "the benchmark child")
        time.sleep(1)
    finally:
        kill_hard(first)
    held = queue.get(request_id)
    assert held.status == RequestStatus.RUNNING and held.lease and held.lease.worker_id == "doomed"
    assert not list((rig.root / "spool").glob("*.json"))

    time.sleep(max(0.0, (held.lease.expires_at - utc_now()).total_seconds()) + 0.5)
    second = rig.worker("--exit-when-empty", "--lease", "60", worker_id="heir")
    assert second.wait(300) == 0

    request = queue.get(request_id)
    assert request.status == RequestStatus.FINISHED and request.attempts == 2
    assert any("lease of worker doomed expired" in change.note for change in request.history)
    end = audit(rig, [request_id])
    assert end.clean and end.results == 1


def test_result_spooled_before_the_commit_is_published_when_the_worker_restarts(rig: Rig) -> None:
    """The on-disk state of a worker killed between writing its spool file and committing the result."""
    [request_id] = rig.submit_copies(1)
    queue = rig.queue()
    claimed = queue.claim("crashed")
    assert claimed is not None and claimed.request_id == request_id
    spooled = result_for(claimed, "crashed")
    rig.stores.spool_dir.mkdir(parents=True)
    (rig.stores.spool_dir / f"{request_id}.json").write_text(spooled.to_json())

    restarted = rig.worker("--exit-when-empty", worker_id="crashed")
    assert restarted.wait(300) == 0

    request = queue.get(request_id)
    assert request.status == RequestStatus.FINISHED and request.result_id == spooled.result_id
    assert request.attempts == 1  # nothing was measured twice
    assert not list(rig.stores.spool_dir.iterdir())
    end = audit(rig, [request_id])
    assert end.clean and end.results == 1


def test_a_spooled_result_is_dropped_when_another_worker_already_finished(rig: Rig) -> None:
    [request_id] = rig.submit_copies(1)
    queue = rig.queue(lease_s=0.01)
    stale = result_for(queue.claim("crashed"), "crashed")  # type: ignore[arg-type]
    time.sleep(0.05)
    heir = queue.claim("heir")
    assert heir is not None and heir.request_id == request_id and heir.attempts == 2
    queue.finish(request_id, "heir", result_for(heir, "heir"))
    rig.stores.spool_dir.mkdir(parents=True)
    (rig.stores.spool_dir / f"{request_id}.json").write_text(stale.to_json())

    stats = Worker(rig.stores, rig.configs, WorkerOptions(worker_id="crashed", exit_when_empty=True)).run()

    assert stats.recovered == 0 and not list(rig.stores.spool_dir.iterdir())
    assert queue.get(request_id).result_id != stale.result_id
    end = audit(rig, [request_id])
    assert end.clean and end.results == 1


class RecordingStore(LocalStore):
    """A LocalStore that keeps the operations of every commit, and can refuse the first finish commits."""

    def __init__(self, root: Path, failing_finishes: int = 0) -> None:
        super().__init__(root)
        self.commits: list[Sequence[CommitOperation]] = []
        self.failing_finishes = failing_finishes

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        if message.startswith("finish") and self.failing_finishes > 0:
            self.failing_finishes -= 1
            raise TransientStoreError("injected: the store is down")
        self.commits.append(operations)
        return super().commit(operations, parent_revision=parent_revision, message=message)


def test_a_claim_that_reaps_the_request_it_takes_writes_its_file_once(rig: Rig) -> None:
    [request_id] = rig.submit_copies(1)
    requests = RecordingStore(rig.stores.requests.root)  # type: ignore[attr-defined]
    stores = Stores(rig.spec, requests, rig.stores.results, rig.stores.models, is_hub=False)
    queue = Rig(rig.root, rig.spec, stores, rig.configs, rig.env).queue(lease_s=0.01)
    queue.claim("crashed")
    time.sleep(0.05)
    assert queue.claim("heir") is not None
    paths = [op.path for op in requests.commits[-1]]
    assert len(paths) == len(set(paths)) == 1 and request_id in paths[0]
    assert queue.get(request_id).lease.worker_id == "heir"  # type: ignore[union-attr]


class OnceHandle:
    """A finished benchmark: its result comes back once, as from a child process whose files are then gone."""

    def __init__(self, result: Result) -> None:
        self._result: Result | None = result

    def poll(self, timeout_s: float) -> Result | None:
        if self._result is None:
            raise RuntimeError("the benchmark's result was already taken")
        result, self._result = self._result, None
        return result

    def terminate(self) -> None:
        """Nothing runs."""


class InstantExecutor:
    def capacity(self) -> int:
        return 1

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> OnceHandle:
        return OnceHandle(
            result_of(spec.request_id, spec.model_id, spec.revision, spec.task_config.task, spec.worker_id)
        )


def test_a_store_outage_during_the_finish_commit_loses_no_measured_result(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    [request_id] = rig.submit_copies(1)
    requests = RecordingStore(rig.stores.requests.root, failing_finishes=3)  # type: ignore[attr-defined]
    stores = Stores(rig.spec, requests, rig.stores.results, rig.stores.models, is_hub=False)
    monkeypatch.setattr(Worker, "_backoff", staticmethod(lambda attempt: 0.01))
    options = WorkerOptions(worker_id="w", exit_when_empty=True, max_store_retries=2)

    stats = Worker(stores, rig.configs, options, InstantExecutor()).run()

    assert requests.failing_finishes == 0  # the outage outlasted the worker's own retries of one commit
    assert (stats.finished, stats.failed) == (1, 0)
    assert rig.queue().get(request_id).status == RequestStatus.FINISHED
    end = audit(rig, [request_id])
    assert end.clean and end.results == 1
