"""Queue operations from several threads against a fake Hub that injects 412s, 429s with Retry-After, 5xx,
dropped connections and slow answers: every operation succeeds or raises one of the data layer's errors, and
the end state has no lost or duplicated request or result."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from leaderboard_data.errors import DuplicateRequestError, EnergyScoreError
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.records import Request, RequestStatus
from leaderboard_data.results import ResultsPublisher
from leaderboard_data.stores.hub import HubStore
from tests.helpers_reliability import TINY_TASK, audit, hub_rig
from tests.helpers_results import finish_with_result
from tests.hub_limits import HubLimits
from tests.hub_server import FakeHub, FaultPlan

# A submitter or worker thread that dies of an exception fails the test: the run must not go on short of one.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]

T = TypeVar("T")
REQUESTS = 16
FAULTS = FaultPlan(
    conflict_rate=0.08,
    rate_limit_rate=0.05,
    retry_after_s=0.05,
    server_error_rate=0.05,
    drop_rate=0.04,
    slow_rate=0.05,
    slow_s=0.1,
    seed=11,
)


class Ledger:
    """What every operation ended with: its result, one of the data layer's errors, or anything else (a bug)."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.unexpected: list[BaseException] = []
        self._lock = threading.Lock()

    def call(self, name: str, operation: Callable[[], T]) -> T | EnergyScoreError:
        try:
            value = operation()
        except EnergyScoreError as error:
            self._count(f"{name}:{type(error).__name__}")
            return error
        except BaseException as error:  # recorded and asserted on: no other error may escape
            with self._lock:
                self.unexpected.append(error)
            raise
        self._count(f"{name}:ok")
        return value

    def _count(self, key: str) -> None:
        with self._lock:
            self.outcomes[key] += 1


def store(hub: FakeHub, name: str) -> HubStore:
    # One retry only: a poll costs a single request when nothing changed, so with more retries hardly any fault
    # would get past the store, and the callers' handling of data-layer errors would go untested. The rig made
    # the repositories: a creation call here, under injected faults, could kill a submitter's or worker's thread
    # before it started, and the run would go on short of one.
    return HubStore(f"energy/{name}", endpoint=hub.url, token=hub.token, backoff_s=0.01, max_retries=1, create=False)


def submitter(hub: FakeHub, ledger: Ledger, names: list[str], acknowledged: list[str], configs: dict) -> None:
    queue = RequestQueue(store(hub, "requests"), configs, quota=SubmissionQuota(max_requests=1000))
    for name in names:
        for _ in range(5):  # a refused or uncertain submission is tried again, as a person would
            submit = functools.partial(
                queue.submit, name, task=TINY_TASK, revision="a" * 40, precision="float32", submitter="s"
            )
            outcome = ledger.call("submit", submit)
            if isinstance(outcome, Request):
                acknowledged.append(outcome.request_id)
                break
            if isinstance(outcome, DuplicateRequestError):  # an earlier, uncertain attempt had landed after all
                acknowledged.append(outcome.existing_request_id)
                break


def worker(hub: FakeHub, ledger: Ledger, worker_id: str, configs: dict, stop: threading.Event) -> None:
    requests = store(hub, "requests")
    queue = RequestQueue(requests, configs, lease_s=1.5, max_attempts=50)
    publisher = ResultsPublisher(requests, store(hub, "results"), configs)
    while not stop.is_set():
        claimed = ledger.call("claim", functools.partial(queue.claim, worker_id))
        if isinstance(claimed, Request):
            finish = functools.partial(finish_with_result, queue, claimed, worker_id)
            if isinstance(ledger.call("finish", finish), EnergyScoreError):
                ledger.call("finish", finish)  # lost lease or uncertain commit: a second try settles which
        elif claimed is None:
            time.sleep(0.05)
        ledger.call("publish", publisher.publish_pending)


def finished_on_hub(hub: FakeHub) -> int:
    """FINISHED requests (live or archived), read from the fake Hub's own state (no HTTP, so no faults)."""
    paths = [p for p in hub.list_files("energy/requests") if p.startswith(("requests/", "archive/"))]
    requests = [Request.from_json(hub.read_file("energy/requests", p), p) for p in paths]
    return sum(r.status == RequestStatus.FINISHED for r in requests)


def test_queue_under_hub_faults_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # Three workers poll every 50 ms, about a hundred times as often as a real worker would: the per-token request
    # budgets (1,000 API calls / 5,000 resolves per 5 minutes) are lifted here so that what is under test is the
    # handling of injected faults; the real commit limit stays. bench/hub_budget.py measures requests under the limits.
    limits = HubLimits(api_calls_per_window=None, resolves_per_window=None)
    with FakeHub(seed=5, limits=limits) as hub:
        rig = hub_rig(tmp_path / "hub", hub)
        hub.faults = FAULTS
        ledger = Ledger()
        acknowledged: list[str] = []
        stop = threading.Event()
        names = [f"acme/model-{i:02d}" for i in range(REQUESTS)]
        threads = [
            threading.Thread(target=submitter, args=(hub, ledger, names[i::2], acknowledged, rig.configs))
            for i in range(2)
        ]
        threads += [
            threading.Thread(target=worker, args=(hub, ledger, f"worker-{i}", rig.configs, stop)) for i in range(3)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and finished_on_hub(hub) < REQUESTS:
            time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join(120)
        injected = hub.fault_counts
        hub.faults = FaultPlan()

        assert not ledger.unexpected, ledger.unexpected
        assert {"conflict", "rate_limit", "server_error", "drop_before", "drop_after", "slow"} <= injected.keys()
        assert any(not key.endswith(":ok") for key in ledger.outcomes), ledger.outcomes  # faults reached callers
        assert len(acknowledged) == REQUESTS and len(set(acknowledged)) == REQUESTS, ledger.outcomes
        end = audit(rig, acknowledged)
        assert end.statuses == {"FINISHED": REQUESTS}, (end, ledger.outcomes)
        assert end.clean and end.results == REQUESTS, end
        keys = Counter(r.dedup_key for r in rig.queue().list_requests())
        assert max(keys.values()) == 1
