"""Many real worker processes on one queue: every request is finished exactly once, with one published result,
on the embedded store and on a (fake) Hub that also serves the models."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from leaderboard_data.model_source import HubModelSource
from leaderboard_data.records import RequestStatus
from leaderboard_data.stores import open_stores
from leaderboard_data.stores.hub import HubStore
from tests.helpers_reliability import Rig, audit, hub_rig, local_rig, stop_all
from tests.hub_server import FakeHub

pytestmark = pytest.mark.slow


def run_workers(rig: Rig, count: int, timeout_s: float) -> list[subprocess.Popen[str]]:
    """Start `count` workers that exit once nothing is left to claim, and wait for all of them."""
    workers = [rig.worker("--exit-when-empty", "--poll", "0.5", worker_id=f"w{i}") for i in range(count)]
    deadline = time.monotonic() + timeout_s
    try:
        for worker in workers:
            worker.wait(max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        stop_all(workers)
        raise
    return workers


def assert_each_finished_once(rig: Rig, submitted: list[str]) -> None:
    end = audit(rig, submitted)
    assert end.statuses == {"FINISHED": len(submitted)}, end
    assert end.clean and end.results == len(submitted), end
    for request in rig.queue().list_requests():
        assert [h.status for h in request.history].count(RequestStatus.FINISHED) == 1
        assert request.attempts == 1 and request.lease is None


def test_eight_workers_finish_forty_requests_each_exactly_once(tmp_path: Path) -> None:
    rig = local_rig(tmp_path / "store")
    submitted = rig.submit_copies(40)
    workers = run_workers(rig, 8, timeout_s=900)
    logs = "".join(p.read_text() for p in (rig.root / "logs").iterdir())
    assert [w.returncode for w in workers] == [0] * 8, logs[-3000:]
    assert_each_finished_once(rig, submitted)
    assert logs.count("claimed ") == 40  # no claim was lost or repeated
    assert not list((rig.root / "spool").glob("*.json"))


def test_open_stores_points_every_backend_at_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", hub.token)
        stores = open_stores("hub:energy", create=True)
        assert isinstance(stores.requests, HubStore) and isinstance(stores.results, HubStore)
        assert stores.requests.endpoint == stores.results.endpoint == hub.url
        assert isinstance(stores.models, HubModelSource)
        assert (stores.models.endpoint, stores.models.token) == (hub.url, hub.token)
        assert hub.list_files("energy/requests") == [".gitattributes"]  # created through the fake Hub, as asked


def test_four_workers_on_the_hub_finish_every_request_exactly_once(tmp_path: Path) -> None:
    # 4 workers x 8 requests rather than 8 x 40: each worker process and each benchmark child costs about
    # 5 CPU-seconds of imports, and over HTTP every claim re-reads the queue; on a 2-core CI machine this test
    # takes about 2 minutes, while 8 requests still keep all 4 workers claiming, heartbeating and publishing at
    # once. bench/soak.py --backend hub runs the long version.
    with FakeHub(seed=3) as hub:
        rig = hub_rig(tmp_path / "hub", hub)
        submitted = rig.submit_copies(8)
        workers = run_workers(rig, 4, timeout_s=900)
        logs = "".join(p.read_text() for p in (rig.root / "logs").iterdir())
        assert [w.returncode for w in workers] == [0] * 4, logs[-3000:]
        assert_each_finished_once(rig, submitted)
        # weights are LFS files: their resolve answers 302 to the CDN, as on the Hub
        downloads = {path for method, path, status in hub.request_log if "/resolve/" in path and status == 302}
        assert any("/acme/tiny-" in path and path.endswith("model.safetensors") for path in downloads)
        assert any(path.endswith(".parquet") for path in hub.list_files("energy/results"))
        assert any(path.startswith("/cdn-lfs/") for _, path, _ in hub.request_log)
        assert not hub.counters().limit_hits
