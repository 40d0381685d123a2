"""Four processes race to claim and finish 30 requests from one LocalStore: each is claimed exactly once."""

from __future__ import annotations

import multiprocessing
import secrets
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from leaderboard_data.configs import load_task_configs
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.records import RequestStatus
from leaderboard_data.stores.local import LocalStore
from tests.test_queue import make_result

WORKERS = 4
REQUESTS = 30


def _claim_until_empty(root: str, worker_id: str, start: Barrier, results: Any) -> None:
    """Claim and finish until the queue is empty; report the ids claimed and any error (runs in a spawned process)."""
    claimed: list[str] = []
    try:
        queue = RequestQueue(LocalStore(root), load_task_configs(), lease_s=3600, max_commit_retries=200)
        start.wait(timeout=60)
        while (request := queue.claim(worker_id)) is not None:
            claimed.append(request.request_id)
            queue.finish(request.request_id, worker_id, make_result(request, secrets.token_hex(8), worker_id))
    except Exception as exc:
        results.put((worker_id, claimed, repr(exc)))
    else:
        results.put((worker_id, claimed, None))


def test_four_processes_claim_every_request_exactly_once(tmp_path: Path) -> None:
    root = tmp_path / "store"
    queue = RequestQueue(LocalStore(root), load_task_configs(), quota=SubmissionQuota(max_requests=REQUESTS))
    submitted = {
        queue.submit(
            f"org/model-{index}",
            task="text_classification",
            revision="a" * 40,
            precision="float32",
            submitter=("alice", "bob", "carol")[index % 3],
        ).request_id
        for index in range(REQUESTS)
    }
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=_claim_until_empty, args=(str(root), f"worker-{i}", start, results))
        for i in range(WORKERS)
    ]
    began = time.monotonic()
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert time.monotonic() - began < 60
    assert [error for _, _, error in outcomes if error] == []
    reports = {worker: ids for worker, ids, _ in outcomes}

    claims = [request_id for ids in reports.values() for request_id in ids]
    assert sorted(claims) == sorted(submitted)  # every request, and none twice
    claimant = {request_id: worker for worker, ids in reports.items() for request_id in ids}
    for request in queue.list_requests():
        assert request.status == RequestStatus.FINISHED and request.attempts == 1
        running = [h for h in request.history if h.status == RequestStatus.RUNNING]
        assert [h.worker_id for h in running] == [claimant[request.request_id]]
    assert len(queue.store.list_files("outbox/")) == REQUESTS
    assert queue.invalid_records() == []
