"""The queue's commit and read budget: commits bounded by time, reads that do not grow with history.

Read costs are counted as HTTP requests answered by the fake Hub, with the real huggingface_hub client and the
real HubStore; commit counts on a real LocalStore and on the fake Hub.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import DuplicateRequestError, RateLimitedError
from leaderboard_data.queue import (
    RECENT_SETTLED,
    RequestQueue,
    Submission,
    SubmissionQuota,
    archive_path,
    outbox_path,
    request_path,
)
from leaderboard_data.records import Request, RequestStatus, StatusChange
from leaderboard_data.stores.base import AddFile
from leaderboard_data.stores.hub import HubStore
from leaderboard_data.stores.local import LocalStore
from leaderboard_data.submission import SubmissionBatcher
from tests.hub_server import FakeHub
from tests.test_queue import SHA, START, FakeClock, commit_count, make_result, submit

TASK = "text_classification"
REPO = "energy/requests"


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
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.create_repo(REPO)
        yield server


def _item(model_id: str, submitter: str = "alice") -> Submission:
    return Submission(model_id, TASK, SHA, "float32", submitter)


def _settled(index: int) -> Request:
    """A finished request of long ago, as the archive holds thousands."""
    at = START - timedelta(days=60)
    return Request(
        request_id=f"{index:016x}",
        model_id=f"org/old-{index}",
        revision=SHA,
        task=TASK,
        precision="float32",
        submitter="history",
        submitted_at=at,
        status=RequestStatus.CANCELLED,
        updated_at=at,
        history=[StatusChange(at=at, status=RequestStatus.CANCELLED, note="cancelled by history")],
    )


# Commits


def test_a_window_of_submissions_is_one_commit(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock, quota=SubmissionQuota(max_requests=2))
    before = commit_count(store)
    outcomes = queue.submit_many([_item("org/a"), _item("org/b"), _item("org/a"), _item("org/c")])
    assert commit_count(store) == before + 1
    a, b, duplicate, over_quota = outcomes
    assert isinstance(a, Request) and isinstance(b, Request)
    assert isinstance(duplicate, DuplicateRequestError) and duplicate.existing_request_id == a.request_id
    assert isinstance(over_quota, RateLimitedError)  # the batch's own submissions count towards the quota
    assert {r.request_id for r in queue.list_requests()} == {a.request_id, b.request_id}


def test_batcher_gives_each_submitter_a_receipt_after_one_shared_commit(
    store: LocalStore, task_configs: dict[str, TaskConfig]
) -> None:
    queue = RequestQueue(store, task_configs, quota=SubmissionQuota(max_requests=100))
    batcher = SubmissionBatcher(queue, window_s=60, max_batch=5)
    before = commit_count(store)
    outcomes: dict[str, Request | Exception] = {}

    def submit_one(name: str) -> None:
        try:
            outcomes[name] = batcher.submit(_item(name if name != "org/dup-2" else "org/dup-1", submitter=name))
        except Exception as exc:
            outcomes[name] = exc

    names = ["org/m-1", "org/m-2", "org/m-3", "org/dup-1", "org/dup-2"]
    threads = [threading.Thread(target=submit_one, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # The fifth submission filled the batch, so nobody waited out the minute; one commit holds all four.
    assert commit_count(store) == before + 1
    receipts = [o for o in outcomes.values() if isinstance(o, Request)]
    refused = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(receipts) == 4 and len(refused) == 1 and isinstance(refused[0], DuplicateRequestError)
    for receipt in receipts:  # a receipt names a request that is really in the store
        assert queue.get(receipt.request_id) == receipt
        assert store.read_file(request_path(receipt.model_id, receipt.request_id))


def test_finish_claim_and_outbox_clearing_are_one_commit(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock)
    first = submit(queue, "org/a")
    clock.advance(1)
    second = submit(queue, "org/b")
    assert queue.claim("w1") == queue.get(first.request_id)
    old_outbox = outbox_path(TASK, "published0001")
    store.commit([AddFile(old_outbox, b"{}")], parent_revision=store.revision(), message="a published result")

    before = commit_count(store)
    finished, claimed = queue.finish_and_claim(first.request_id, "w1", make_result(first), clear_outbox={old_outbox})
    assert commit_count(store) == before + 1
    assert finished.status == RequestStatus.FINISHED
    assert [c.request_id for c in claimed] == [second.request_id] and claimed[0].lease is not None
    assert store.list_files("outbox/") == [outbox_path(TASK, "result0001")]
    assert store.list_files("requests/") == [request_path("org/b", second.request_id)]
    assert store.list_files("archive/") == [archive_path(finished)]


def test_a_lease_lasts_the_tasks_timeout_plus_a_margin_and_heartbeats_only_read(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock, lease_margin_s=900)
    request = submit(queue)
    claimed = queue.claim("w1")
    assert claimed is not None and claimed.lease is not None
    timeout = task_configs[TASK].timeout_s
    assert claimed.lease.expires_at - claimed.lease.claimed_at == timedelta(seconds=timeout + 900)

    before = commit_count(store)
    for _ in range(10):  # a benchmark running to half its lease: heartbeats commit nothing
        clock.advance((timeout + 900) / 2 / 10 - 1)
        assert queue.heartbeat(request.request_id, "w1").lease == claimed.lease
    assert commit_count(store) == before
    clock.advance(20)  # less than half left: now the lease is renewed, once
    renewed = queue.heartbeat(request.request_id, "w1")
    assert renewed.lease is not None and renewed.lease.expires_at > claimed.lease.expires_at
    assert commit_count(store) == before + 1


def test_a_restarted_worker_releases_what_its_previous_run_held(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock)
    request = submit(queue)
    assert queue.claim("host-a") is not None
    [released] = queue.release_own("host-a", "worker restarted")
    assert released.request_id == request.request_id
    assert released.status == RequestStatus.PENDING and released.attempts == 0
    assert queue.release_own("host-a", "worker restarted") == []


# Archive


def test_settled_requests_leave_the_live_folder_and_stay_findable(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock)
    request = submit(queue)
    queue.claim("w1")
    finished = queue.finish(request.request_id, "w1", make_result(request))
    assert store.list_files("requests/") == []
    assert queue.get(request.request_id) == finished
    assert queue.list_requests() == [finished]
    assert queue.list_requests(RequestStatus.PENDING) == []
    assert queue.position(request.request_id) is None
    # A finished (model, revision, task, precision) is still refused as a duplicate, from its marker alone.
    fresh = RequestQueue(LocalStore(store.root), task_configs, clock=clock)
    with pytest.raises(DuplicateRequestError, match=f"request {request.request_id} is FINISHED"):
        submit(fresh)


# Reads


def _seed_history(hub: FakeHub, count: int) -> None:
    files = {archive_path(r): r.to_json().encode() for r in map(_settled, range(count))}
    hub.upload_files(REPO, files, message=f"{count} settled requests")


def _calls(hub: FakeHub, since: int) -> list[tuple[str, str, int]]:
    return hub.request_log[since:]


@pytest.mark.slow
def test_a_poll_costs_at_most_five_calls_with_ten_thousand_settled_requests(
    hub: FakeHub, task_configs: dict[str, TaskConfig]
) -> None:
    _seed_history(hub, 10_000)
    store = HubStore(REPO, endpoint=hub.url, token=hub.token, create=False)
    queue = RequestQueue(store, task_configs, quota=SubmissionQuota(max_requests=100))
    running = queue.submit("org/running", task=TASK, revision=SHA, precision="float32", submitter="bob")
    assert queue.claim("w1") is not None
    waiting = queue.submit("org/waiting", task=TASK, revision=SHA, precision="float32", submitter="bob")
    worker = RequestQueue(store, task_configs)
    other = RequestQueue(HubStore(REPO, endpoint=hub.url, token=hub.token, create=False), task_configs)
    worker.heartbeat(running.request_id, "w1")  # warm: what a worker has read before

    mark = len(hub.request_log)
    worker.heartbeat(running.request_id, "w1")
    assert len(_calls(hub, mark)) <= 5, _calls(hub, mark)  # nothing changed: the head, nothing else

    other.cancel(waiting.request_id, "bob")  # someone else changes one file
    mark = len(hub.request_log)
    assert worker.claim("w2", tasks={"summarization"}) is None
    calls = _calls(hub, mark)
    assert len(calls) <= 5 + 1, calls
    assert not any("archive" in path for _, path, _ in calls)  # history is never listed by a poll


def test_claimable_counts_what_a_claim_could_take_without_writing(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock, lease_s=60)
    assert queue.claimable() == 0
    first = submit(queue, "org/a")
    clock.advance(1)
    submit(queue, "org/b")
    assert queue.claimable() == 2
    assert queue.claim("w1") is not None and queue.claimable() == 1
    queue.release(first.request_id, "w1", "dataset unreachable", retry_in_s=300)
    assert queue.claimable() == 1  # held back by its infrastructure pause
    assert queue.claimable(tasks={"summarization"}) == 0
    assert queue.claim("w2") is not None
    clock.advance(61)  # w2's lease expired: the next claim would reap it
    assert queue.claimable() == 1
    clock.advance(300)
    before = commit_count(store)
    assert queue.claimable() == 2
    assert commit_count(store) == before


def test_a_worker_fills_its_free_slots_in_one_commit(
    store: LocalStore, task_configs: dict[str, TaskConfig], clock: FakeClock
) -> None:
    queue = RequestQueue(store, task_configs, clock=clock)
    alice = [submit(queue, f"org/a{i}") for i in range(3)]
    bob = submit(queue, "org/b", submitter="bob")
    before = commit_count(store)
    claimed = queue.claim_many("gpu-node", 3)
    assert commit_count(store) == before + 1
    # Fair shares hold inside one commit: bob's one request is among the three, not left behind alice's.
    assert bob.request_id in {r.request_id for r in claimed} and len(claimed) == 3
    assert all(r.lease is not None and r.lease.worker_id == "gpu-node" for r in claimed)
    assert queue.claimable() == 1 and len(alice) == 3


def test_one_settled_request_is_read_by_its_path_not_by_listing_the_archive(
    hub: FakeHub, task_configs: dict[str, TaskConfig]
) -> None:
    _seed_history(hub, 2_000)
    legacy = _settled(99_999)  # archived before the shards: under its month
    hub.upload_files(REPO, {f"archive/{legacy.updated_at:%Y-%m}/{legacy.request_id}.json": legacy.to_json().encode()})
    queue = RequestQueue(HubStore(REPO, endpoint=hub.url, token=hub.token, create=False), task_configs)

    mark = len(hub.request_log)
    assert queue.get(f"{1234:016x}").model_id == "org/old-1234"
    calls = _calls(hub, mark)
    assert not [c for c in calls if "/tree/" in c[1] and "archive" in c[1]], calls
    assert len(calls) <= 4, calls  # the head, the live folder, the one file
    assert queue.get(legacy.request_id).model_id == legacy.model_id  # found by the fallback listing


def test_concurrent_cold_reads_download_each_file_once(hub: FakeHub, task_configs: dict[str, TaskConfig]) -> None:
    _seed_history(hub, 300)
    store = HubStore(REPO, endpoint=hub.url, token=hub.token, create=False)
    mark = len(hub.request_log)
    readers = [threading.Thread(target=lambda: RequestQueue(store, task_configs).list_requests()) for _ in range(5)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    downloads = [c for c in _calls(hub, mark) if "/resolve/" in c[1]]
    assert len(downloads) == 300  # single-flight: five cold readers, one download per file


def test_the_queue_tab_reads_the_live_queue_and_one_summary_never_the_archive(
    hub: FakeHub, task_configs: dict[str, TaskConfig]
) -> None:
    _seed_history(hub, 1_000)
    store = HubStore(REPO, endpoint=hub.url, token=hub.token, create=False)
    queue = RequestQueue(store, task_configs, quota=SubmissionQuota(max_requests=1000))
    settled = []
    for n in range(RECENT_SETTLED + 5):
        request = queue.submit(f"org/m{n}", task=TASK, revision=SHA, precision="float32", submitter="bob")
        settled.append(queue.cancel(request.request_id, "bob"))
    waiting = queue.submit("org/waiting", task=TASK, revision=SHA, precision="float32", submitter="bob")

    space = RequestQueue(HubStore(REPO, endpoint=hub.url, token=hub.token, create=False), task_configs)
    mark = len(hub.request_log)
    live = space.list_requests(include_settled=False)
    recent = space.recent_settled()
    calls = _calls(hub, mark)
    assert [r.request_id for r in live] == [waiting.request_id]
    assert [r.request_id for r in recent] == [r.request_id for r in reversed(settled[-RECENT_SETTLED:])]
    assert not [c for c in calls if "archive" in c[1]], calls
    assert len(calls) <= 4 + 1, calls  # the head, the live folder and its one file, the summary
