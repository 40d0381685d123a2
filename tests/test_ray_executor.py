"""The worker driving a local Ray cluster: slots filled, leases kept, a killed Ray worker re-run once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest

ray = pytest.importorskip("ray")

from leaderboard_data.records import Request, RequestStatus  # noqa: E402
from leaderboard_data.results import load_results_frame  # noqa: E402
from runner.ray_executor import RayExecutor  # noqa: E402
from runner.worker import Worker, WorkerOptions  # noqa: E402
from tests.helpers_deployment import Deployment, make_deployment  # noqa: E402

pytestmark = pytest.mark.slow
TASK = "text_classification"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024)
    yield
    ray.shutdown()


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    dep = make_deployment(tmp_path / "store")
    dep.add_dataset(TASK)
    for index in range(4):
        dep.add_model(f"acme/classifier-{index}", TASK, seed=index)
    return dep


def _running_intervals(requests: list[Request]) -> list[tuple[datetime, datetime]]:
    intervals = []
    for request in requests:
        starts = [c.at for c in request.history if c.status == RequestStatus.RUNNING]
        ends = [c.at for c in request.history if c.status != RequestStatus.RUNNING and c.at >= starts[-1]]
        intervals.append((starts[-1], min(ends)))
    return intervals


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best


def _worker(deployment: Deployment, samples: int, repetitions: int) -> Worker:
    executor = RayExecutor(device="cpu", store_spec=deployment.spec)
    options = WorkerOptions(
        worker_id="ray-driver", exit_when_empty=True, poll_s=0.2, samples=samples, repetitions=repetitions
    )
    return Worker(deployment.stores, deployment.configs, options, executor)


def test_four_requests_two_in_flight_all_finished_once(ray_cluster: None, deployment: Deployment) -> None:
    ids = [deployment.submit(f"acme/classifier-{i}", TASK) for i in range(4)]
    worker = _worker(deployment, samples=3, repetitions=2)
    assert worker.executor.capacity() == 2
    stats = worker.run()
    assert stats.finished == 4 and stats.failed == 0

    requests = deployment.queue().list_requests()
    assert {r.request_id: r.status for r in requests} == dict.fromkeys(ids, RequestStatus.FINISHED)
    assert _max_overlap(_running_intervals(requests)) == 2
    frame = load_results_frame(deployment.stores.results)
    assert sorted(frame["request_id"]) == sorted(ids)
    assert all("ray node" in node for node in frame["node"])


def _kill_first_benchmark_process(killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline", "name"]):
            title = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["name"] or "")
            if "_benchmark_on_node" in title:
                time.sleep(2.0)  # let it get into the measured passes
                proc.kill()
                killed.append(proc.info["pid"])
                return
        time.sleep(0.2)


def test_killed_ray_worker_reruns_the_request_with_exactly_one_result(
    ray_cluster: None, deployment: Deployment
) -> None:
    request_id = deployment.submit("acme/classifier-0", TASK)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_benchmark_process, args=(killed, stop), daemon=True)
    killer.start()
    worker = _worker(deployment, samples=6, repetitions=3)
    try:
        stats = worker.run()
    finally:
        stop.set()
        killer.join(timeout=5)
    assert killed, "no Ray benchmark process was found to kill"
    assert stats.released == 1 and stats.finished == 1
    request = deployment.queue().get(request_id)
    assert request.status == RequestStatus.FINISHED
    assert sum(1 for c in request.history if c.status == RequestStatus.RUNNING) == 2
    frame = load_results_frame(deployment.stores.results)
    assert list(frame["request_id"]) == [request_id]
