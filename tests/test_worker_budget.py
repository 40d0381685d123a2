"""The real worker's commits on the requests store: one per benchmarked model, none for liveness."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_data.records import RequestStatus
from leaderboard_data.stores.local import LocalStore
from runner.worker import Worker, WorkerOptions
from tests.helpers_deployment import make_deployment
from tests.test_queue import commit_count

TASK = "text_classification"


@pytest.mark.slow
def test_two_benchmarks_cost_four_commits_on_the_requests_store(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    deployment.add_dataset(TASK)
    ids = []
    for name in ("acme/one", "acme/two"):
        deployment.add_model(name, TASK)
        ids.append(deployment.submit(name, TASK))
    requests = deployment.stores.requests
    assert isinstance(requests, LocalStore)
    before = commit_count(requests)
    options = WorkerOptions(worker_id="w1", poll_s=0.05, exit_when_empty=True, samples=3, repetitions=1)

    stats = Worker(deployment.stores, deployment.configs, options).run()

    assert stats.finished == 2
    # claim one; finish one and claim two; finish two (clearing one's published outbox file); clear two's at exit.
    assert commit_count(requests) - before == 4
    assert requests.list_files("outbox/") == [] and requests.list_files("requests/") == []
    assert [deployment.queue().get(i).status for i in ids] == [RequestStatus.FINISHED] * 2
