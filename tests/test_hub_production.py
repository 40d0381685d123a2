"""The Hub as it behaves in production, against the fake Hub: racing commits answered 409, a stale commit deleting
a deleted file answered 404, the commit-rate 429 that says its wait only in words, commits that never answer, a
cap on a commit's files, and lagged reads of the head and of files. Each is first shown on the fake (so the fake
is as strict as the Hub), then handled by HubStore, the queue and the worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from leaderboard_data.configs import load_task_configs
from leaderboard_data.errors import ConflictError, DuplicateRequestError, QueueError, StoreError
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.records import ErrorKind, RequestStatus, Result
from leaderboard_data.stores import Stores
from leaderboard_data.stores.base import AddFile, DeleteFile
from leaderboard_data.stores.hub import HubStore
from leaderboard_data.stores.transact import Backoff, Plan, transact
from leaderboard_data.submission import SubmissionBatcher, submit_model
from runner.engine import BenchmarkSpec
from runner.worker import Worker, WorkerOptions
from tests.helpers_deployment import make_deployment
from tests.helpers_results import finish_with_result, make_result
from tests.hub_limits import HubLimits, ManualClock
from tests.hub_server import BUSY_MESSAGE, FakeHub, FaultPlan

TASK = "text_classification"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(seed=5) as server:
        yield server


def store_on(hub: FakeHub, repo: str = "org/requests", **options: object) -> HubStore:
    settings: dict[str, object] = {"backoff_s": 0.01, "max_retries": 5, "timeout_s": 10.0, **options}
    return HubStore(repo, endpoint=hub.url, token=hub.token, **settings)  # type: ignore[arg-type]


def queue_on(store: HubStore, **options: object) -> RequestQueue:
    quota = SubmissionQuota(max_requests=1000)
    return RequestQueue(store, load_task_configs(), quota=quota, **options)  # type: ignore[arg-type]


def finish(queue: RequestQueue, request_id: str, worker: str) -> None:
    finish_with_result(queue, queue.get(request_id), worker)


# --- 409: commits racing on one repository ------------------------------------------------------------------------


def test_a_commit_arriving_while_another_is_applied_gets_the_hubs_409(hub: FakeHub) -> None:
    hub.create_repo("org/raced")
    hub.commit_work_s = 0.3  # long enough that the second commit surely arrives while the first is applied
    api = HfApi(endpoint=hub.url, token=hub.token)
    answers: list[int] = []

    def commit(name: str) -> None:
        try:
            api.create_commit("org/raced", [CommitOperationAdd(name, b"x")], commit_message=name, repo_type="dataset")
            answers.append(200)
        except HfHubHTTPError as exc:
            assert exc.response is not None and BUSY_MESSAGE.split(".")[0] in str(exc)
            answers.append(exc.response.status_code)

    threads = [threading.Thread(target=commit, args=(f"{n}.txt",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409] and hub.racing_commits_refused == 1
    assert hub.commit_count("org/raced") == 1


def test_a_409_is_a_conflict_that_the_writer_retries_not_a_permanent_error(hub: FakeHub) -> None:
    store = store_on(hub)
    parent = store.commit([AddFile("counter", b"0")], parent_revision=store.revision(), message="start")
    hub.faults = FaultPlan(busy_rate=1.0, endpoints=frozenset({"commit"}))
    with pytest.raises(ConflictError, match="409"):
        store.commit([AddFile("counter", b"1")], parent_revision=parent, message="refused")
    assert hub.head(store.repo_id) == parent

    hub.faults = FaultPlan(busy_rate=0.5, endpoints=frozenset({"commit"}), seed=2)

    def step() -> tuple[str, Plan[int]]:
        head = store.revision()
        count = int(store.read_file("counter", head)) + 1
        return head, Plan(count, [AddFile("counter", str(count).encode())], "+1")

    for _ in range(6):
        transact(store, step, what="count", backoff=Backoff(first_s=0.001, max_s=0.01))
    assert hub.read_file(store.repo_id, "counter") == b"6" and hub.fault_counts.get("busy", 0) >= 2


def test_queue_workers_racing_on_one_repository_lose_and_duplicate_nothing(hub: FakeHub) -> None:
    hub.commit_work_s = 0.02
    submitter = queue_on(store_on(hub))
    submitted = {
        submitter.submit(f"acme/m{n}", task=TASK, revision="a" * 40, precision="float32", submitter="s").request_id
        for n in range(8)
    }
    finished: list[str] = []
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        queue = queue_on(store_on(hub, create=False))  # a store object per worker, as in separate processes
        try:
            while (claimed := queue.claim(worker)) is not None:
                finish(queue, claimed.request_id, worker)
                finished.append(claimed.request_id)
        except BaseException as exc:  # asserted on below: no error may escape a worker
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    assert sorted(finished) == sorted(submitted)
    assert {r.request_id for r in submitter.list_requests(RequestStatus.FINISHED)} == submitted
    assert hub.racing_commits_refused > 0  # the race was really run


# --- 404 before 412, the text-only 429, commits that never answer, operations per commit ---------------------------


def test_a_stale_commit_deleting_a_file_already_deleted_is_a_conflict(hub: FakeHub) -> None:
    first, second = store_on(hub), store_on(hub, create=False)
    parent = first.commit(
        [AddFile("a.json", b"a"), AddFile("b.json", b"b")], parent_revision=first.revision(), message="s"
    )
    first.commit([DeleteFile("a.json")], parent_revision=parent, message="first deletes it")
    api = HfApi(endpoint=hub.url, token=hub.token)
    with pytest.raises(HfHubHTTPError) as answered:  # the Hub checks the operations before the parent
        api.create_commit(
            first.repo_id,
            [CommitOperationDelete("a.json")],
            commit_message="x",
            repo_type="dataset",
            parent_commit=parent,
        )
    assert answered.value.response is not None and answered.value.response.status_code == 404
    with pytest.raises(ConflictError):
        second.commit([DeleteFile("a.json"), AddFile("c.json", b"c")], parent_revision=parent, message="stale")
    head = hub.head(first.repo_id)
    with pytest.raises(StoreError) as permanent:  # on the head itself, a missing file stays a permanent error
        second.commit([DeleteFile("a.json")], parent_revision=head, message="bad")
    assert not isinstance(permanent.value, ConflictError)


def test_the_commit_rate_429_is_waited_out_for_as_long_as_its_text_says() -> None:
    clock = ManualClock()
    with FakeHub(clock=clock, limits=HubLimits(commits_per_hour=3)) as hub:
        store = store_on(hub, sleep=clock.sleep)
        head = store.revision()
        for n in range(3):
            head = store.commit([AddFile("n.txt", str(n).encode())], parent_revision=head, message=f"{n}")
            clock.advance(60)
        started = clock.now()
        store.commit([AddFile("n.txt", b"3")], parent_revision=head, message="waits")
        waited = clock.now() - started
        assert hub.counters().limit_hits == {"commits": 1}
        assert 3600 - 180 <= waited <= 3600  # "retry this action in 57 minutes": the hour, rounded up to minutes


def test_a_commit_that_does_not_answer_in_time_is_retried_and_lands_once(hub: FakeHub) -> None:
    store = store_on(hub, commit_timeout_s=0.2, max_retries=20)
    parent = store.commit([AddFile("a.txt", b"a")], parent_revision=store.revision(), message="start")
    hub.faults = FaultPlan(slow_rate=1.0, slow_s=0.5, endpoints=frozenset({"commit"}))
    new = store.commit([AddFile("b.txt", b"b")], parent_revision=parent, message="slow")
    hub.faults = FaultPlan()
    assert new == hub.head(store.repo_id) and hub.commit_count(store.repo_id) == 2
    assert hub.fault_counts["slow"] >= 2  # the first attempt was given up on and another one sent


def test_a_commit_of_more_files_than_the_hub_takes_is_refused(hub: FakeHub) -> None:
    hub.limits = HubLimits(operations_per_commit=3)
    store = store_on(hub)
    with pytest.raises(StoreError, match="Too many operations"):  # three files and the store's marker: four
        store.commit([AddFile(f"{n}.txt", b"x") for n in range(3)], parent_revision=store.revision(), message="big")
    store.commit([AddFile(f"{n}.txt", b"x") for n in range(2)], parent_revision=store.revision(), message="fits")


# --- lagged reads -------------------------------------------------------------------------------------------------


def test_a_lagged_head_never_takes_a_store_back() -> None:
    clock = ManualClock()
    with FakeHub(clock=clock) as hub:
        writer = store_on(hub)
        hub.read_lag_s = 30.0
        landed = writer.commit([AddFile("a.txt", b"a")], parent_revision=writer.revision(), message="a")
        assert store_on(hub, create=False).revision() != landed  # the lag is real: a fresh reader sees the past
        assert writer.revision() == landed  # ours is newer than what the Hub's cache answers
        clock.advance(60)
        reader = store_on(hub, create=False)
        assert reader.revision() == landed
        newer = writer.commit([AddFile("b.txt", b"b")], parent_revision=landed, message="b")
        clock.advance(60)
        assert reader.revision() == newer
        hub.read_lag_s, hub.read_lag_share = 90.0, 0.5  # now half the answers show the head of 90 s ago
        assert {reader.revision() for _ in range(20)} == {newer}


def test_a_finish_right_after_a_claim_sees_the_claim_under_lag() -> None:
    clock = ManualClock()
    with FakeHub(clock=clock) as hub:
        hub.read_lag_s = 10.0
        request_id = (
            queue_on(store_on(hub))
            .submit("acme/m", task=TASK, revision="a" * 40, precision="float32", submitter="s")
            .request_id
        )
        clock.advance(20)
        queue = queue_on(store_on(hub, create=False))
        claimed = queue.claim("w1")
        assert claimed is not None and claimed.request_id == request_id
        finish(queue, request_id, "w1")  # the Hub still answers the head before the claim
        clock.advance(20)
        assert queue_on(store_on(hub, create=False)).get(request_id).status == RequestStatus.FINISHED


def test_a_duplicate_is_refused_under_lag_by_reading_the_marker_at_the_snapshot() -> None:
    clock = ManualClock()
    with FakeHub(clock=clock) as hub:
        queue = queue_on(store_on(hub))
        hub.read_lag_s = 10.0
        first = queue.submit("acme/m", task=TASK, revision="a" * 40, precision="float32", submitter="s")
        claimed = queue.claim("w1")
        assert claimed is not None
        finish(queue, first.request_id, "w1")
        with pytest.raises(DuplicateRequestError):  # the marker is only in the head the Hub does not show yet
            queue.submit("acme/m", task=TASK, revision="a" * 40, precision="float32", submitter="s")


# --- a measured result is never thrown away --------------------------------------------------------------------------


def test_a_result_whose_request_was_failed_by_its_worker_is_still_recovered(hub: FakeHub) -> None:
    queue = queue_on(store_on(hub))
    request = queue.submit("acme/m", task=TASK, revision="a" * 40, precision="float32", submitter="s")
    claimed = queue.claim("w1")
    assert claimed is not None
    queue.fail(request.request_id, "w1", ErrorKind.INTERNAL, "the finish commit failed")
    result = make_result(
        request_id=request.request_id, model_id="acme/m", revision="a" * 40, task=TASK, device="cpu", worker_id="w1"
    )
    assert queue.finish_recovered(result).status == RequestStatus.FINISHED
    again = queue.submit("acme/m2", task=TASK, revision="a" * 40, precision="float32", submitter="s")
    assert queue.claim("w1") is not None
    queue.fail(again.request_id, "w1", ErrorKind.INTERNAL, "failed")
    resubmitted = queue.submit("acme/m2", task=TASK, revision="a" * 40, precision="float32", submitter="s")
    assert queue.claim("w2") is not None
    finish(queue, resubmitted.request_id, "w2")
    late = make_result(
        request_id=again.request_id, model_id="acme/m2", revision="a" * 40, task=TASK, device="cpu", worker_id="w1"
    )
    with pytest.raises(QueueError, match="already finished"):  # its model was measured again meanwhile
        queue.finish_recovered(late)


# --- the worker: a claim or a finish meeting 409s never ends it ----------------------------------------------------


class _MeasuredAtOnce:
    """An executor whose benchmark ends at once with a result for its request: what this test exercises is the
    worker's commits, not a measurement (the engine's tests measure)."""

    def __init__(self) -> None:
        self.spec: BenchmarkSpec | None = None

    def capacity(self) -> int:
        return 1

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> _MeasuredAtOnce:
        self.spec = spec
        return self

    def poll(self, timeout_s: float) -> Result:
        spec = self.spec
        assert spec is not None and spec.request_id is not None
        return make_result(
            request_id=spec.request_id,
            model_id=spec.model_id,
            revision=spec.revision,
            task=spec.task_config.task,
            device="cpu",
            precision=spec.precision,
            worker_id=spec.worker_id,
        )

    def terminate(self) -> None:
        return None


def test_a_worker_meeting_409s_on_its_claims_and_finishes_finishes_everything(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENERGY_SCORE_SPOOL", str(tmp_path / "spool"))
    deployment = make_deployment(tmp_path / "local")
    stores = Stores(
        spec="hub:org",
        requests=store_on(hub, "org/requests"),
        results=store_on(hub, "org/results"),
        models=deployment.stores.models,
        is_hub=True,
    )
    submitted = []
    at_once = SubmissionBatcher(queue_on(stores.requests), window_s=0)
    for n in range(3):
        deployment.add_model(f"acme/m{n}", TASK)
        receipt = submit_model(
            stores,
            deployment.configs,
            f"acme/m{n}",
            task=TASK,
            revision=None,
            precision=None,
            submitter="s",
            batcher=at_once,
        )
        submitted.append(receipt.request.request_id)
    hub.faults = FaultPlan(busy_rate=0.4, endpoints=frozenset({"commit"}), seed=4)
    options = WorkerOptions(worker_id="w", max_jobs=3, poll_s=0.05, exit_when_empty=True, finish_hold_s=0.0)

    stats = Worker(stores, deployment.configs, options, executor=_MeasuredAtOnce()).run()

    assert hub.fault_counts.get("busy", 0) > 0
    assert stats.finished == 3 and stats.failed == 0
    queue = queue_on(store_on(hub, create=False))
    assert {queue.get(r).status for r in submitted} == {RequestStatus.FINISHED}


def test_a_commit_crowding_a_folder_or_the_repository_past_the_hubs_counts_is_refused(hub: FakeHub) -> None:
    hub.limits = HubLimits(entries_per_folder=4, files_per_repo=9)  # the Hub's .gitattributes and the marker count
    store = store_on(hub)
    head = store.commit(
        [AddFile(f"flat/{n}.json", b"x") for n in range(3)], parent_revision=store.revision(), message="3"
    )
    with pytest.raises(StoreError, match="flat would hold 5 entries"):
        store.commit([AddFile(f"flat/{n}.json", b"x") for n in range(3, 5)], parent_revision=head, message="5")
    head = store.commit([AddFile("flat/3.json", b"x"), AddFile("flat/0.json", b"y")], parent_revision=head, message="4")
    with pytest.raises(StoreError, match="would hold 10 files"):
        store.commit([AddFile(f"other/{n}.json", b"x") for n in range(4)], parent_revision=head, message="10 files")
    store.commit([AddFile(f"other/{n}.json", b"x") for n in range(3)], parent_revision=head, message="9 files")


def test_a_file_unchanged_by_later_commits_is_not_downloaded_again(hub: FakeHub) -> None:
    store = store_on(hub)
    first = store.commit(
        [AddFile("data/a.json", b"a"), AddFile("data/b.json", b"b")], parent_revision=store.revision(), message="ab"
    )
    store.read_files(store.list_files("data/", first), first)
    second = store.commit([AddFile("data/b.json", b"B")], parent_revision=first, message="b changes")
    mark = len(hub.request_log)
    assert store.read_files(store.list_files("data/", second), second) == {"data/a.json": b"a", "data/b.json": b"B"}
    downloads = [path for _, path, _ in hub.request_log[mark:] if "/resolve/" in path]
    assert [path.rsplit("/", 1)[-1] for path in downloads] == ["b.json"]  # a.json kept its blob id: cached
