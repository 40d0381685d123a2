"""The request queue on a real LocalStore with a controllable clock: every operation and transition."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import (
    ConflictError,
    DuplicateRequestError,
    LeaseLostError,
    QueueError,
    RateLimitedError,
    SubmissionError,
    TransientStoreError,
)
from leaderboard_data.queue import (
    RequestQueue,
    SubmissionQuota,
    claim_order,
    duration_words,
    finished_marker_path,
    outbox_path,
    request_path,
    submitter_ledger_path,
)
from leaderboard_data.records import (
    EnergyFigure,
    ErrorKind,
    HardwareFingerprint,
    Outputs,
    Request,
    RequestStatus,
    Result,
)
from leaderboard_data.stores.base import AddFile, CommitOperation
from leaderboard_data.stores.local import LocalStore

SHA = "a" * 40
SHA2 = "b" * 40
START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_result(request: Request, result_id: str = "result0001", worker_id: str = "w1") -> Result:
    """A minimal valid result for `request`."""
    return Result(
        result_id=result_id,
        request_id=request.request_id,
        model_id=request.model_id,
        revision=request.revision,
        task=request.task,
        config_version="1.0",
        precision=request.precision,
        device="cpu",
        num_parameters=1000,
        size_class="A",
        hardware=HardwareFingerprint(hardware_class="cpu-test", cpu_model="test cpu", cpu_count=2, ram_gb=4.0),
        software={"python": "3.11"},
        energy=[
            EnergyFigure(
                phase="total",
                device="cpu",
                mean_wh_per_1k=1.0,
                std_wh_per_1k=0.1,
                ci95_low_wh_per_1k=0.9,
                ci95_high_wh_per_1k=1.1,
                repetitions=3,
                measured=False,
                source="test",
            )
        ],
        scored_device="cpu",
        scored_energy_wh_per_1k=1.0,
        latency_s_mean=0.1,
        latency_s_p95=0.2,
        throughput_queries_per_s=10.0,
        outputs=Outputs(queries=10),
        peak_memory_mb=10.0,
        samples=10,
        repetitions=3,
        started_at=START,
        finished_at=START,
        worker_id=worker_id,
    )


def commit_count(store: LocalStore) -> int:
    """How many commits the store has recorded."""
    log = store.root / ".store" / "log.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def store_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root`, store metadata included, for byte-for-byte comparisons.

    The empty `.store/lock` is left out: the first reader creates it, and it never holds data.
    """
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    files.pop(".store/lock", None)
    return files


@pytest.fixture(scope="module")
def task_configs() -> dict[str, TaskConfig]:
    return load_task_configs()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "requests-store")


@pytest.fixture
def queue(store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock) -> RequestQueue:
    return RequestQueue(store, task_configs, clock=clock, lease_s=60.0, max_attempts=2)


def submit(queue: RequestQueue, model_id: str = "org/model", **overrides: object) -> Request:
    args: dict[str, object] = {
        "task": "text_classification",
        "revision": SHA,
        "precision": "float32",
        "submitter": "alice",
    }
    args.update(overrides)
    return queue.submit(model_id, **args)  # type: ignore[arg-type]


# Submitting


def test_submit_writes_one_pending_request_in_one_commit(
    queue: RequestQueue, store: LocalStore, clock: FakeClock
) -> None:
    before = commit_count(store)
    request = submit(queue, num_parameters=123)
    assert commit_count(store) == before + 1
    assert len(request.request_id) == 16 and int(request.request_id, 16) >= 0
    assert request.request_id == request.request_id.lower()
    assert request.status == RequestStatus.PENDING
    assert (request.submitted_at, request.updated_at, request.attempts) == (clock.now, clock.now, 0)
    assert request.num_parameters == 123
    assert [h.status for h in request.history] == [RequestStatus.PENDING]
    stored = store.read_file(request_path("org/model", request.request_id))
    assert Request.from_json(stored) == request
    assert queue.get(request.request_id) == request


def test_submit_accepts_a_bare_name_and_a_content_hash(queue: RequestQueue, store: LocalStore) -> None:
    request = submit(queue, "gpt2", revision="c" * 64)
    assert store.list_files("requests/") == [f"requests/gpt2/{request.request_id}.json"]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"task": "translation"}, "known tasks: automatic_speech_recognition, extractive_qa"),
        ({"precision": "int8"}, "float32, float16, bfloat16"),
        ({"revision": "main"}, "40-character commit sha"),
        ({"submitter": ""}, "between 1 and 96"),
        ({"num_parameters": -1}, "at least 0"),
        ({"model_id": "../etc/passwd"}, "'../etc/passwd'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    queue: RequestQueue, store: LocalStore, overrides: dict[str, object], needle: str
) -> None:
    submit(queue, "org/existing")
    before = store_bytes(store.root)
    model_id = str(overrides.pop("model_id", "org/model"))
    with pytest.raises(SubmissionError) as raised:
        submit(queue, model_id, **overrides)
    assert needle in str(raised.value)
    assert store_bytes(store.root) == before


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "FINISHED"])
def test_duplicate_of_an_active_request_is_refused(queue: RequestQueue, store: LocalStore, status: str) -> None:
    first = submit(queue)
    if status != "PENDING":
        claimed = queue.claim("w1")
        assert claimed is not None
        if status == "FINISHED":
            queue.finish(first.request_id, "w1", make_result(first))
    before = store_bytes(store.root)
    with pytest.raises(DuplicateRequestError) as raised:
        submit(queue, submitter="bob")
    assert raised.value.existing_request_id == first.request_id
    assert first.request_id in str(raised.value) and status in str(raised.value)
    assert store_bytes(store.root) == before


def test_duplicate_check_ignores_model_id_case_but_not_precision_or_revision(queue: RequestQueue) -> None:
    submit(queue, "Org/Model")
    with pytest.raises(DuplicateRequestError):
        submit(queue, "org/model")
    assert submit(queue, "org/model", precision="float16").precision == "float16"
    assert submit(queue, "org/model", revision=SHA2).revision == SHA2
    assert submit(queue, "org/model", task="text_generation").task == "text_generation"


def test_resubmission_is_allowed_after_failed_or_cancelled(queue: RequestQueue, clock: FakeClock) -> None:
    first = submit(queue)
    queue.cancel(first.request_id, by="alice")
    clock.advance(1)
    second = submit(queue)
    queue.fail_unclaimed(second.request_id, ErrorKind.NOT_FOUND, "model vanished")
    clock.advance(1)
    third = submit(queue)
    assert len({first.request_id, second.request_id, third.request_id}) == 3
    assert [r.status for r in queue.list_requests()] == [
        RequestStatus.CANCELLED,
        RequestStatus.FAILED,
        RequestStatus.PENDING,
    ]


def test_quota_counts_every_submission_in_the_period(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock, quota=SubmissionQuota(max_requests=2, period_s=3600))
    first = submit(queue, "org/a")
    clock.advance(600)
    submit(queue, "org/b", submitter="ALICE")
    queue.cancel(first.request_id, by="alice")
    clock.advance(60)
    before = store_bytes(store.root)
    with pytest.raises(RateLimitedError) as raised:
        submit(queue, "org/c")
    assert raised.value.retry_after_s == pytest.approx(3600 - 660)
    assert "try again in 49 minutes" in str(raised.value)
    assert store_bytes(store.root) == before
    assert submit(queue, "org/d", submitter="bob").submitter == "bob"
    clock.advance(3600 - 660 - 1)
    with pytest.raises(RateLimitedError) as raised:
        submit(queue, "org/c")
    assert raised.value.retry_after_s == pytest.approx(1)
    clock.advance(1)  # the wait it named is over
    assert submit(queue, "org/c").model_id == "org/c"


def test_duration_words() -> None:
    assert duration_words(0.2) == "1 second"
    assert duration_words(61) == "1 minute 1 second"
    assert duration_words(3 * 3600 + 5 * 60 + 7) == "3 hours 5 minutes"
    assert duration_words(86400 * 2) == "2 days"


# Reading


def test_list_requests_sorts_by_submission_and_filters_by_status(queue: RequestQueue, clock: FakeClock) -> None:
    ids = []
    for name in ("org/c", "org/a", "org/b"):
        ids.append(submit(queue, name).request_id)
        clock.advance(1)
    assert [r.request_id for r in queue.list_requests()] == ids
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.request_id == ids[0]
    assert [r.request_id for r in queue.list_requests(RequestStatus.PENDING)] == ids[1:]
    assert [r.request_id for r in queue.list_requests(RequestStatus.RUNNING)] == ids[:1]


def test_unknown_request_is_a_queue_error(queue: RequestQueue) -> None:
    for operation in (
        lambda: queue.get("0123456789abcdef"),
        lambda: queue.position("0123456789abcdef"),
        lambda: queue.cancel("0123456789abcdef", by="x"),
        lambda: queue.heartbeat("0123456789abcdef", "w1"),
    ):
        with pytest.raises(QueueError, match="no request '0123456789abcdef'"):
            operation()


# Claiming


def test_claim_on_an_empty_queue_returns_none_and_writes_nothing(queue: RequestQueue, store: LocalStore) -> None:
    assert queue.claim("w1") is None
    assert commit_count(store) == 0


def test_claim_takes_a_lease_and_counts_the_attempt(queue: RequestQueue, store: LocalStore, clock: FakeClock) -> None:
    request = submit(queue)
    clock.advance(5)
    before = commit_count(store)
    claimed = queue.claim("w1")
    assert commit_count(store) == before + 1
    assert claimed is not None and claimed.request_id == request.request_id
    assert claimed.status == RequestStatus.RUNNING and claimed.attempts == 1
    assert claimed.lease is not None
    assert claimed.lease.worker_id == "w1"
    assert (claimed.lease.claimed_at, claimed.lease.expires_at) == (clock.now, clock.now + timedelta(seconds=60))
    assert claimed.updated_at == clock.now
    assert [(h.status, h.worker_id) for h in claimed.history] == [
        (RequestStatus.PENDING, None),
        (RequestStatus.RUNNING, "w1"),
    ]
    assert queue.get(request.request_id) == claimed
    assert queue.claim("w2") is None


def test_claim_filters_by_task(queue: RequestQueue) -> None:
    submit(queue, task="text_generation")
    wanted = submit(queue, task="summarization")
    claimed = queue.claim("w1", tasks=["summarization", "extractive_qa"])
    assert claimed is not None and claimed.request_id == wanted.request_id
    assert queue.claim("w1", tasks=["extractive_qa"]) is None
    with pytest.raises(QueueError, match="unknown tasks"):
        queue.claim("w1", tasks=["no_such_task"])


def test_claim_ignores_requests_of_tasks_this_queue_does_not_know(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    submit(RequestQueue(store, task_configs, clock=clock), task="image_generation")
    narrow = RequestQueue(store, {"text_classification": task_configs["text_classification"]}, clock=clock)
    assert narrow.claim("w1") is None
    [waiting] = narrow.list_requests()
    assert narrow.position(waiting.request_id) == 1  # still waiting, for a worker that knows the task


def test_claim_is_fair_across_submitters(queue: RequestQueue, clock: FakeClock) -> None:
    alice = []
    for index in range(3):
        alice.append(submit(queue, f"alice/m{index}").request_id)
        clock.advance(1)
    bob = submit(queue, "bob/m", submitter="bob").request_id
    clock.advance(1)
    carol = submit(queue, "carol/m", submitter="carol").request_id
    expected = [alice[0], bob, carol, alice[1], alice[2]]
    assert [queue.position(i) for i in expected] == [1, 2, 3, 4, 5]
    claimed = [queue.claim("w1") for _ in expected]
    assert [c.request_id for c in claimed if c] == expected
    assert all(queue.position(i) is None for i in expected)


def test_fairness_counts_running_requests(queue: RequestQueue, clock: FakeClock) -> None:
    first = submit(queue, "alice/old")
    clock.advance(1)
    second = submit(queue, "alice/new")
    clock.advance(1)
    bob = submit(queue, "bob/m", submitter="bob")
    assert queue.claim("w1") is not None  # alice/old
    # alice now runs one request, so bob's younger request goes before her second one
    assert queue.position(bob.request_id) == 1
    assert queue.position(second.request_id) == 2
    claimed = queue.claim("w2")
    assert claimed is not None and claimed.request_id == bob.request_id
    assert queue.position(first.request_id) is None


def test_claim_order_is_a_pure_function_of_pending_and_running() -> None:
    def request(request_id: str, submitter: str, minute: int) -> Request:
        at = START + timedelta(minutes=minute)
        return Request(
            request_id=request_id,
            model_id="m",
            revision=SHA,
            task="text_classification",
            precision="float32",
            submitter=submitter,
            submitted_at=at,
            updated_at=at,
        )

    pending = [request("aaaaaaa1", "a", 0), request("aaaaaaa2", "a", 1), request("bbbbbbb1", "b", 2)]
    assert [r.request_id for r in claim_order(pending, {})] == ["aaaaaaa1", "bbbbbbb1", "aaaaaaa2"]
    assert [r.request_id for r in claim_order(pending, {"a": 2})] == ["bbbbbbb1", "aaaaaaa1", "aaaaaaa2"]


# Leases


def test_heartbeat_extends_the_lease_without_touching_history(queue: RequestQueue, clock: FakeClock) -> None:
    request = submit(queue)
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.lease is not None
    clock.advance(50)
    beaten = queue.heartbeat(request.request_id, "w1")
    assert beaten.lease is not None
    assert beaten.lease.expires_at == clock.now + timedelta(seconds=60)
    assert beaten.lease.claimed_at == claimed.lease.claimed_at
    assert beaten.history == claimed.history and beaten.updated_at == clock.now
    with pytest.raises(LeaseLostError, match="'w1' does"):
        queue.heartbeat(request.request_id, "w2")


def test_heartbeat_on_a_pending_request_is_lease_lost(queue: RequestQueue) -> None:
    request = submit(queue)
    with pytest.raises(LeaseLostError, match="it is PENDING"):
        queue.heartbeat(request.request_id, "w1")


def test_release_puts_the_request_back_and_refunds_the_attempt(queue: RequestQueue) -> None:
    request = submit(queue)
    queue.claim("w1")
    released = queue.release(request.request_id, "w1", "shutting down")
    assert released.status == RequestStatus.PENDING and released.lease is None and released.attempts == 0
    assert released.history[-1].note == "released: shutting down"
    assert released.history[-1].worker_id == "w1"
    assert queue.position(request.request_id) == 1
    with pytest.raises(LeaseLostError):
        queue.release(request.request_id, "w1", "again")


def test_expired_lease_is_reaped_back_to_pending_then_failed_after_max_attempts(
    queue: RequestQueue, clock: FakeClock
) -> None:
    request = submit(queue)
    queue.claim("w1")
    clock.advance(59)
    assert queue.reap_expired() == []
    clock.advance(1)
    assert queue.position(request.request_id) == 1  # counted as reaped before any reap is written
    [reaped] = queue.reap_expired()
    assert reaped.status == RequestStatus.PENDING and reaped.attempts == 1 and reaped.lease is None
    assert "lease of worker w1 expired" in reaped.history[-1].note
    claimed = queue.claim("w2")
    assert claimed is not None and claimed.attempts == 2
    with pytest.raises(LeaseLostError):
        queue.heartbeat(request.request_id, "w1")
    clock.advance(60)
    [failed] = queue.reap_expired()
    assert failed.status == RequestStatus.FAILED and failed.error_kind == ErrorKind.LEASE_EXPIRED
    assert failed.error_message and "attempt 2 of 2" in failed.error_message
    assert [(h.status, h.worker_id) for h in failed.history] == [
        (RequestStatus.PENDING, None),
        (RequestStatus.RUNNING, "w1"),
        (RequestStatus.PENDING, "w1"),
        (RequestStatus.RUNNING, "w2"),
        (RequestStatus.FAILED, "w2"),
    ]
    assert queue.get(request.request_id) == failed
    assert queue.claim("w3") is None


def test_claim_reaps_and_reclaims_in_one_commit(queue: RequestQueue, store: LocalStore, clock: FakeClock) -> None:
    request = submit(queue)
    queue.claim("w1")
    clock.advance(61)
    before = commit_count(store)
    claimed = queue.claim("w2")
    assert commit_count(store) == before + 1
    assert claimed is not None and claimed.request_id == request.request_id
    assert claimed.lease is not None and claimed.lease.worker_id == "w2"
    assert [h.status for h in claimed.history] == [
        RequestStatus.PENDING,
        RequestStatus.RUNNING,
        RequestStatus.PENDING,
        RequestStatus.RUNNING,
    ]


def test_a_lease_past_expiry_is_still_held_until_reaped(queue: RequestQueue, clock: FakeClock) -> None:
    request = submit(queue)
    queue.claim("w1")
    clock.advance(120)
    beaten = queue.heartbeat(request.request_id, "w1")
    assert beaten.lease is not None and beaten.lease.expires_at == clock.now + timedelta(seconds=60)
    assert queue.reap_expired() == []


# Settling


def test_finish_writes_request_and_outbox_in_one_commit(queue: RequestQueue, store: LocalStore) -> None:
    request = submit(queue)
    queue.claim("w1")
    result = make_result(request)
    before = commit_count(store)
    finished = queue.finish(request.request_id, "w1", result)
    assert commit_count(store) == before + 1
    log = json.loads((store.root / ".store" / "log.jsonl").read_text().splitlines()[-1])
    assert log["revision"] == store.revision()
    assert finished.status == RequestStatus.FINISHED and finished.result_id == result.result_id
    assert finished.lease is None
    assert store.read_file(outbox_path("text_classification", result.result_id)) == result.to_json().encode()
    assert Result.from_json(store.read_file(f"outbox/text_classification/{result.result_id}.json")) == result
    assert queue.get(request.request_id) == finished
    with pytest.raises(LeaseLostError, match="FINISHED"):
        queue.finish(request.request_id, "w1", result)


@pytest.mark.parametrize(
    "change",
    [{"request_id": "ffffffffffffffff"}, {"model_id": "org/other"}, {"task": "summarization"}, {"revision": SHA2}],
)
def test_finish_refuses_a_result_for_something_else(
    queue: RequestQueue, store: LocalStore, change: dict[str, str]
) -> None:
    request = submit(queue)
    queue.claim("w1")
    result = make_result(request).model_copy(update=change)
    before = store_bytes(store.root)
    with pytest.raises(QueueError):
        queue.finish(request.request_id, "w1", result)
    assert store_bytes(store.root) == before


def test_finish_by_a_worker_that_lost_the_lease_writes_nothing(
    queue: RequestQueue, store: LocalStore, clock: FakeClock
) -> None:
    request = submit(queue)
    queue.claim("w1")
    clock.advance(61)
    queue.claim("w2")
    before = store_bytes(store.root)
    with pytest.raises(LeaseLostError, match="'w2' does"):
        queue.finish(request.request_id, "w1", make_result(request))
    assert store_bytes(store.root) == before


def test_finish_recovered_settles_a_request_whose_lease_ran_out(queue: RequestQueue, clock: FakeClock) -> None:
    request = submit(queue)
    queue.claim("w1")
    clock.advance(61)
    queue.claim("w2")
    clock.advance(61)
    [failed] = queue.reap_expired()
    assert failed.error_kind == ErrorKind.LEASE_EXPIRED
    result = make_result(request, worker_id="w1")
    finished = queue.finish_recovered(result)
    assert finished.status == RequestStatus.FINISHED and finished.result_id == result.result_id
    assert finished.error_kind is None and finished.error_message is None
    assert finished.history[-1].note == f"recovered result {result.result_id}"
    with pytest.raises(QueueError, match="is FINISHED"):
        queue.finish_recovered(result)


def test_finish_recovered_refuses_cancelled_and_unnamed(queue: RequestQueue, store: LocalStore) -> None:
    request = submit(queue)
    queue.cancel(request.request_id, by="alice")
    before = store_bytes(store.root)
    with pytest.raises(QueueError, match="is CANCELLED"):
        queue.finish_recovered(make_result(request))
    with pytest.raises(QueueError, match="names no request"):
        queue.finish_recovered(make_result(request).model_copy(update={"request_id": None}))
    assert store_bytes(store.root) == before


def test_fail_records_kind_and_message(queue: RequestQueue) -> None:
    request = submit(queue)
    queue.claim("w1")
    with pytest.raises(LeaseLostError):
        queue.fail(request.request_id, "w2", ErrorKind.TIMEOUT, "too slow")
    with pytest.raises(QueueError, match="needs a message"):
        queue.fail(request.request_id, "w1", ErrorKind.TIMEOUT, "  ")
    failed = queue.fail(request.request_id, "w1", ErrorKind.OUT_OF_MEMORY, "CUDA out of memory" + "x" * 5000)
    assert failed.status == RequestStatus.FAILED and failed.error_kind == ErrorKind.OUT_OF_MEMORY
    assert failed.error_message is not None and len(failed.error_message) == 4000
    assert failed.lease is None and failed.history[-1].worker_id == "w1"
    assert failed.history[-1].note.startswith("out_of_memory: CUDA out of memory")


def test_fail_unclaimed_only_for_pending(queue: RequestQueue) -> None:
    pending = submit(queue, "org/a")
    failed = queue.fail_unclaimed(pending.request_id, ErrorKind.GATED, "model is gated")
    assert failed.status == RequestStatus.FAILED and failed.error_kind == ErrorKind.GATED
    assert failed.history[-1].worker_id is None
    submit(queue, "org/b")
    running = queue.claim("w1")
    assert running is not None
    with pytest.raises(QueueError, match="only a PENDING request"):
        queue.fail_unclaimed(running.request_id, ErrorKind.GATED, "model is gated")


def test_cancel_only_pending(queue: RequestQueue) -> None:
    request = submit(queue, "org/a")
    cancelled = queue.cancel(request.request_id, by="alice")
    assert cancelled.status == RequestStatus.CANCELLED
    assert cancelled.history[-1].note == "cancelled by alice"
    assert queue.position(request.request_id) is None
    with pytest.raises(QueueError, match="is CANCELLED"):
        queue.cancel(request.request_id, by="alice")
    submit(queue, "org/b")
    running = queue.claim("w1")
    assert running is not None
    with pytest.raises(QueueError, match="is RUNNING"):
        queue.cancel(running.request_id, by="alice")


# Conflicts


class InterferingStore(LocalStore):
    """A LocalStore where another writer commits just before each of the next `times` commits."""

    def __init__(self, root: Path, interfere: list[object]) -> None:
        super().__init__(root)
        self.interfere = interfere

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        if self.interfere:
            action = self.interfere.pop(0)
            assert callable(action)
            action()
        return super().commit(operations, parent_revision=parent_revision, message=message)


def test_claim_that_loses_a_race_rereads_and_takes_the_next_request(
    tmp_path: Path, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    interfere: list[object] = []
    store = InterferingStore(tmp_path / "s", interfere)
    queue = RequestQueue(store, task_configs, clock=clock)
    rival = RequestQueue(LocalStore(tmp_path / "s"), task_configs, clock=clock)
    first = submit(queue, "org/a")
    clock.advance(1)
    second = submit(queue, "org/b")
    interfere.append(lambda: rival.claim("rival"))
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.request_id == second.request_id
    held = queue.get(first.request_id)
    assert held.lease is not None and held.lease.worker_id == "rival"


def test_heartbeat_after_a_rival_reaped_and_reclaimed_is_lease_lost(
    tmp_path: Path, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    interfere: list[object] = []
    store = InterferingStore(tmp_path / "s", interfere)
    queue = RequestQueue(store, task_configs, clock=clock, lease_s=10)
    rival = RequestQueue(LocalStore(tmp_path / "s"), task_configs, clock=clock, lease_s=10)
    request = submit(queue)
    queue.claim("w1")
    clock.advance(11)
    interfere.append(lambda: rival.claim("rival"))
    with pytest.raises(LeaseLostError, match="'rival' does"):
        queue.heartbeat(request.request_id, "w1")


def test_gives_up_after_max_commit_retries_without_writing(
    tmp_path: Path, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    class AlwaysConflicting(LocalStore):
        attempts = 0

        def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
            self.attempts += 1
            raise ConflictError("head moved")

    store = AlwaysConflicting(tmp_path / "s")
    queue = RequestQueue(store, task_configs, clock=clock, max_commit_retries=3)
    before = store_bytes(store.root)
    with pytest.raises(TransientStoreError, match="gave up after 4 attempts"):
        submit(queue)
    assert store.attempts == 4
    assert store_bytes(store.root) == before


def test_a_naive_clock_is_refused(store: LocalStore, task_configs: dict[str, TaskConfig]) -> None:
    queue = RequestQueue(store, task_configs, clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        submit(queue)


def test_store_layout_is_what_other_modules_read(queue: RequestQueue, store: LocalStore) -> None:
    request = submit(queue, "org/model")
    queue.claim("w1")
    result = make_result(request, result_id="abcdef0123456789")
    queue.finish(request.request_id, "w1", result)
    # Settled: out of the live folder into its shard of the archive, with the marker duplicates are checked against.
    marker = finished_marker_path("org/model", request.revision, request.task, request.precision)
    assert store.list_files() == sorted(
        [
            f"archive/{hashlib.sha256(request.request_id.encode()).hexdigest()[:3]}/{request.request_id}.json",
            marker,
            "index/recent.json",
            submitter_ledger_path(request.submitter),
            "outbox/text_classification/abcdef0123456789.json",
        ]
    )
    assert store.list_files("requests/") == []


def test_markers_are_sharded_and_a_flat_marker_of_an_older_deployment_still_refuses_a_duplicate(
    queue: RequestQueue, store: LocalStore
) -> None:
    path = finished_marker_path("org/model", SHA, "text_classification", "float32")
    assert path.count("/") == 3  # index/finished/<shard>/<hash>.json
    legacy = "index/finished/" + path.rsplit("/", 1)[1]
    marker = json.dumps({"request_id": "0123456789abcdef", "model_id": "org/model", "result_id": "r"}).encode()
    store.commit([AddFile(legacy, marker)], parent_revision=store.revision(), message="an older deployment")
    with pytest.raises(DuplicateRequestError, match="request 0123456789abcdef is FINISHED"):
        submit(queue, "org/model")
