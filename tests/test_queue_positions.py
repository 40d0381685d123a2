"""One queue order for the submission receipt and the Queue tab, including leases that expired unreaped."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from leaderboard_data.configs import load_task_configs
from leaderboard_data.queue import RequestQueue
from leaderboard_data.queue_positions import queue_positions
from leaderboard_data.records import Lease, Request, RequestStatus
from leaderboard_data.submission import submit_model
from space import columns as C
from space import data
from space.views import Views
from tests.helpers_space import add_tiny_bert, local_stores

BASE = datetime(2025, 1, 1, tzinfo=UTC)


def _request(i: int, submitter: str, status: RequestStatus = RequestStatus.PENDING, **extra) -> Request:
    return Request(
        request_id=f"req{i:08d}",
        model_id=f"org/m{i}",
        revision="a" * 40,
        task="text_classification",
        precision="float32",
        submitter=submitter,
        submitted_at=BASE + timedelta(minutes=i),
        updated_at=BASE + timedelta(minutes=i),
        status=status,
        **extra,
    )


def _running(i: int, submitter: str, expires_in_min: float, attempts: int = 1) -> Request:
    lease = Lease(worker_id="w1", claimed_at=BASE, expires_at=BASE + timedelta(minutes=expires_in_min))
    return _request(i, submitter, RequestStatus.RUNNING, lease=lease, attempts=attempts)


def test_receipt_and_queue_tab_agree_after_a_lease_expires(tmp_path):
    """Found 4: alice's request lost its lease; bob then submits. Both places must say bob is #2."""
    configs = load_task_configs()
    stores = local_stores(tmp_path)
    add_tiny_bert(tmp_path, "acme/tiny-bert")
    add_tiny_bert(tmp_path, "acme/other-bert")
    first = submit_model(
        stores, configs, "acme/tiny-bert", task="text_classification", revision=None, precision=None, submitter="alice"
    )
    claimed = RequestQueue(stores.requests, configs, lease_s=0.05).claim("worker-1")
    assert claimed is not None and claimed.request_id == first.request.request_id
    time.sleep(0.2)  # the lease runs out; nobody has reaped it, so the store still says RUNNING
    receipt = submit_model(
        stores, configs, "acme/other-bert", task="text_classification", revision=None, precision=None, submitter="bob"
    )
    assert receipt.position == 2  # alice's request goes back ahead of bob's
    table = Views(data.LeaderboardData(stores, configs)).queue()
    details = dict(zip(table[C.Q_REQUEST_ID.label], table[C.Q_DETAIL.label], strict=True))
    assert details[receipt.request.request_id] == "#2 in the queue"
    assert details[first.request.request_id].endswith("#1 in the queue")
    assert "lease of worker-1 expired" in details[first.request.request_id]


def test_live_leases_count_toward_fair_share():
    requests = [_request(1, "alice"), _request(2, "bob"), _running(3, "alice", expires_in_min=60)]
    assert queue_positions(requests, BASE + timedelta(minutes=10)) == {"req00000002": 1, "req00000001": 2}


@pytest.mark.parametrize(("attempts", "expected"), [(1, {"req00000000": 1, "req00000001": 2}), (3, {"req00000001": 1})])
def test_expired_leases_wait_again_unless_out_of_attempts(attempts, expected):
    requests = [_request(1, "bob"), _running(0, "alice", expires_in_min=5, attempts=attempts)]
    assert queue_positions(requests, BASE + timedelta(minutes=10)) == expected


def test_settled_requests_have_no_place():
    requests = [
        _request(1, "a", RequestStatus.FINISHED, result_id="abcdef0123"),
        _request(2, "a", RequestStatus.CANCELLED),
    ]
    assert queue_positions(requests, BASE) == {}
