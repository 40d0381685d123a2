"""Resource limits: a model too big for the declared memory is refused before any child starts; a benchmark
child that hangs is killed at its timeout, its request FAILED(timeout), and the worker goes on."""

from __future__ import annotations

import json
import shutil
import signal
import struct
import threading
from pathlib import Path

import psutil
import pytest

from leaderboard_data.records import ErrorKind, RequestStatus
from runner.executors import LocalProcessExecutor
from runner.worker import Worker, WorkerOptions
from tests.helpers_reliability import audit, local_rig

pytestmark = pytest.mark.slow

BIG_PARAMETERS = 100_000_000  # 400 MB of float32 weights


def sparse_weights(path: Path, parameters: int) -> None:
    """A valid safetensors file of one float32 tensor, written sparse: its size costs no disk."""
    header = json.dumps({"weight": {"dtype": "F32", "shape": [parameters], "data_offsets": [0, 4 * parameters]}})
    encoded = header.encode() + b" " * (-len(header) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        handle.truncate(8 + len(encoded) + 4 * parameters)


def test_a_model_too_big_for_the_memory_limit_is_refused_before_a_child_starts(tmp_path: Path) -> None:
    rig = local_rig(tmp_path / "store")
    big = tmp_path / "big"
    shutil.copytree(rig.tiny_model(), big)
    sparse_weights(big / "model.safetensors", BIG_PARAMETERS)
    request_id = rig.submit("acme/big", rig.add_model("acme/big", big))
    options = WorkerOptions(worker_id="w", exit_when_empty=True, samples=1, repetitions=1)
    executor = LocalProcessExecutor(memory_limit_mb=256)
    started: list[int] = []
    done = threading.Event()
    watcher = threading.Thread(target=watch_benchmark_children, args=(started, done, None), daemon=True)

    watcher.start()
    try:
        stats = Worker(rig.stores, rig.configs, options, executor).run()
    finally:
        done.set()
        watcher.join()

    request = rig.queue().get(request_id)
    assert stats.failed == 1 and request.status == RequestStatus.FAILED
    assert request.error_kind == ErrorKind.OUT_OF_MEMORY
    assert "100,000,000 parameters" in (request.error_message or "") and "256 MiB" in (request.error_message or "")
    assert not started


def watch_benchmark_children(seen: list[int], done: threading.Event, send: signal.Signals | None) -> None:
    """Note every benchmark child this process starts until `done`; send `send` to the first one (SIGSTOP: from
    then on it hangs, as a deadlocked model would)."""
    while not done.wait(0.05):
        for child in psutil.Process().children(recursive=True):
            try:
                if child.pid in seen or "runner.isolation" not in " ".join(child.cmdline()):
                    continue
                if send is not None and not seen:
                    child.send_signal(send)
                seen.append(child.pid)
            except psutil.Error:
                continue


def test_a_hanging_child_fails_with_timeout_and_the_worker_goes_on(tmp_path: Path) -> None:
    rig = local_rig(
        tmp_path / "store", tasks=("text_classification", "extractive_qa"), timeouts={"text_classification": 3}
    )
    [hanging] = rig.submit_copies(1, "acme/hangs", task="text_classification")
    [fine] = rig.submit_copies(1, "acme/fine", task="extractive_qa")
    options = WorkerOptions(worker_id="w", exit_when_empty=True, samples=1, repetitions=1, poll_s=0.2)
    stopped: list[int] = []
    done = threading.Event()
    watcher = threading.Thread(target=watch_benchmark_children, args=(stopped, done, signal.SIGSTOP), daemon=True)

    watcher.start()
    try:
        stats = Worker(rig.stores, rig.configs, options).run()
    finally:
        done.set()
        watcher.join()

    assert stopped, "no benchmark child was seen"
    assert not psutil.pid_exists(stopped[0]) or psutil.Process(stopped[0]).status() == psutil.STATUS_ZOMBIE
    requests = {r.request_id: r for r in rig.queue().list_requests()}
    assert requests[hanging].status == RequestStatus.FAILED and requests[hanging].error_kind == ErrorKind.TIMEOUT
    assert "no result after 3 s" in (requests[hanging].error_message or "")
    assert requests[fine].status == RequestStatus.FINISHED
    assert (stats.finished, stats.failed) == (1, 1)
    end = audit(rig, [hanging, fine])
    assert end.clean and end.results == 1
