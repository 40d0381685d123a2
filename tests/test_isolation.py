"""Child-process isolation: a normal result comes back, and every bad ending becomes a classified failure while
the parent carries on."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from leaderboard_data.records import ErrorKind
from runner.engine import BenchmarkSpec
from runner.errors import BenchmarkFailure
from runner.isolation import BenchmarkStopped, IsolatedBenchmark, run_isolated
from tests import helpers_engine as h

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkSpec:
    root = tmp_path_factory.mktemp("isolation")
    return BenchmarkSpec(
        model_id="tests/mlp",
        model_dir=h.build_mlp(root / "mlp"),
        revision="1" * 40,
        task_config=h.task_config(),
        dataset_path=str(h.write_samples(root / "data")),
        request_id="isolated01",
    )


def _gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_result_comes_back_from_the_child(spec: BenchmarkSpec) -> None:
    result = run_isolated(spec, timeout_s=180, task_class=h.MlpTask)
    assert result.result_id == "isolated01" and result.model_id == "tests/mlp"
    assert result.scored_device == "cpu" and result.scored_energy_wh_per_1k > 0
    assert result.hardware.node and result.figure("total", "cpu") is not None


def test_crash_without_a_word(spec: BenchmarkSpec) -> None:
    with pytest.raises(BenchmarkFailure) as info:
        run_isolated(spec, timeout_s=180, task_class=h.CrashTask)
    assert info.value.kind == ErrorKind.INTERNAL
    assert "exited with code 3 and no result" in info.value.message


def test_hang_is_killed_with_its_process_group(spec: BenchmarkSpec) -> None:
    bench = IsolatedBenchmark(spec, task_class=h.HangTask)
    with pytest.raises(BenchmarkFailure) as info:
        run_isolated(spec, timeout_s=8, task_class=h.HangTask)
    assert info.value.kind == ErrorKind.TIMEOUT and "no result after 8 s" in info.value.message
    bench.start()
    assert not bench.wait(timeout=1.0) and not bench.poll()
    bench.terminate(grace_s=2.0)
    assert bench.poll() and _gone(bench.pid)
    with pytest.raises(BenchmarkStopped, match="stopped on request"):
        bench.result()


def test_memory_limit_becomes_out_of_memory(spec: BenchmarkSpec) -> None:
    with pytest.raises(BenchmarkFailure) as info:
        run_isolated(spec, timeout_s=180, memory_limit_mb=3000, task_class=h.HugeAllocationTask)
    assert info.value.kind == ErrorKind.OUT_OF_MEMORY and "MemoryError" in info.value.message


def test_load_failure_is_classified(spec: BenchmarkSpec) -> None:
    with pytest.raises(BenchmarkFailure) as info:
        run_isolated(spec, timeout_s=180, task_class=h.BrokenWeightsTask)
    assert info.value.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE
    assert "Unrecognized configuration class" in info.value.message


def test_stop_event_stops_the_child(spec: BenchmarkSpec) -> None:
    stop = threading.Event()
    threading.Timer(2.0, stop.set).start()
    with pytest.raises(BenchmarkStopped) as info:
        run_isolated(spec, timeout_s=180, stop_event=stop, task_class=h.HangTask, poll_interval_s=0.1)
    assert info.value.kind == ErrorKind.INTERNAL and not info.value.permanent


def test_result_before_the_end_is_refused(spec: BenchmarkSpec) -> None:
    bench = IsolatedBenchmark(spec, task_class=h.HangTask)
    with pytest.raises(RuntimeError, match="not started"):
        bench.poll()
    bench.start()
    try:
        with pytest.raises(RuntimeError, match="still running"):
            bench.result()
    finally:
        bench.terminate(grace_s=1.0)
        bench.cleanup()


def test_child_dies_with_its_parent(spec: BenchmarkSpec, tmp_path: Path) -> None:
    """A SIGKILLed worker leaves no benchmark running: the kernel kills the child with it."""
    pid_file = tmp_path / "child.pid"
    parent_code = (
        "import pickle, sys, time\n"
        "from runner.isolation import IsolatedBenchmark\n"
        "from tests import helpers_engine as h\n"
        "spec = pickle.loads(sys.stdin.buffer.read())\n"
        "bench = IsolatedBenchmark(spec, task_class=h.HangTask)\n"
        "bench.start()\n"
        f"open({str(pid_file)!r}, 'w').write(str(bench.pid))\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdin=subprocess.PIPE, cwd=REPO_ROOT)
    assert parent.stdin is not None
    parent.stdin.write(pickle.dumps(spec))
    parent.stdin.close()
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the benchmark child never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    time.sleep(2.0)  # the child is importing and running by now
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(child):
        assert time.monotonic() < deadline, "the benchmark child outlived its worker"
        time.sleep(0.1)
