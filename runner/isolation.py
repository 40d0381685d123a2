"""Run one benchmark in a child process, so that a crash, a hang or an out-of-memory kill cannot take the worker
down with it.

The child is `python -m runner.isolation PAYLOAD RESULT` in its own process group: it reads the spec from the
payload JSON, runs `run_benchmark`, and writes {"ok": true, "result": ...} or {"ok": false, "kind", "message"}
to the result file. The parent turns every other ending (non-zero exit, signal, timeout) into a
BenchmarkFailure with the tail of the child's stderr.

Example (a worker that heartbeats while it waits):
    bench = IsolatedBenchmark(spec, memory_limit_mb=60_000)
    bench.start()
    while not bench.wait(timeout=30):
        queue.heartbeat(...)
        if stopping: bench.terminate()
    result = bench.result()   # raises BenchmarkFailure
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from leaderboard_data.records import ErrorKind, Result
from runner.errors import BenchmarkFailure

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

STDERR_TAIL_CHARS = 3000


class BenchmarkStopped(BenchmarkFailure):
    """The caller stopped the benchmark (e.g. the worker got SIGTERM); retrying later is fine."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.INTERNAL, message)


class IsolatedBenchmark:
    """One benchmark in a child process: `start()`, then `poll()`/`wait()`, `terminate()` on demand, `result()`.

    Args:
        spec: the benchmark to run (a runner.engine.BenchmarkSpec).
        memory_limit_mb: address-space limit (RLIMIT_AS) of the child; None for no limit.
        task_class: a task implementation importable by module and name (tests); None uses the registry.
    """

    def __init__(self, spec: Any, *, memory_limit_mb: int | None = None, task_class: type | None = None) -> None:
        self.spec = spec
        self.memory_limit_mb = memory_limit_mb
        self.task_class = task_class
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._ending: BenchmarkFailure | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Write the payload and start the child in a new process group."""
        if self._proc is not None:
            raise RuntimeError("this benchmark was already started")
        self._dir = tempfile.TemporaryDirectory(prefix="energy-score-")
        folder = Path(self._dir.name)
        payload: dict[str, Any] = {
            "spec": self.spec.to_dict(),
            "memory_limit_mb": self.memory_limit_mb,
            "parent_pid": os.getpid(),
        }
        if self.task_class is not None:
            payload["task_class"] = [self.task_class.__module__, self.task_class.__qualname__]
        (folder / "payload.json").write_text(json.dumps(payload))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._stderr = (folder / "stderr.txt").open("w+b")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "runner.isolation", str(folder / "payload.json"), str(folder / "result.json")],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
        )

    def poll(self) -> bool:
        """True once the child has exited."""
        return self._require().poll() is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds; True if the child has exited."""
        try:
            self._require().wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def terminate(self, grace_s: float = 5.0, failure: BenchmarkFailure | None = None) -> None:
        """SIGTERM the child's whole process group, SIGKILL after `grace_s`; `failure` is what result() raises."""
        proc = self._require()
        if proc.poll() is not None:
            return
        self._ending = failure or BenchmarkStopped("benchmark stopped on request")
        self._signal_group(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            proc.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._require().pid, sig)

    def result(self) -> Result:
        """The child's Result; any other ending is raised as a BenchmarkFailure. Call after the child exited."""
        proc = self._require()
        if proc.poll() is None:
            raise RuntimeError("the benchmark is still running")
        try:
            return self._outcome(proc.returncode)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Remove the payload folder (result() does it too)."""
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _require(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("the benchmark was not started")
        return self._proc

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(size - STDERR_TAIL_CHARS, 0))
        return self._stderr.read().decode("utf-8", errors="replace").strip()

    def _outcome(self, returncode: int) -> Result:
        tail = self.stderr_tail()
        if self._ending is not None:
            raise type(self._ending)(*_failure_args(self._ending, tail))
        assert self._dir is not None
        path = Path(self._dir.name) / "result.json"
        if path.exists():
            data = json.loads(path.read_text())
            if data["ok"]:
                return Result.model_validate(data["result"])
            raise BenchmarkFailure(ErrorKind(data["kind"]), data["message"])
        if returncode < 0:
            sig = signal.Signals(-returncode)
            if sig == signal.SIGKILL:
                raise BenchmarkFailure(
                    ErrorKind.OUT_OF_MEMORY,
                    _with_tail("the benchmark process was killed (SIGKILL), most likely out of memory", tail),
                )
            raise BenchmarkFailure(ErrorKind.INTERNAL, _with_tail(f"the benchmark process died of {sig.name}", tail))
        raise BenchmarkFailure(
            ErrorKind.INTERNAL, _with_tail(f"the benchmark process exited with code {returncode} and no result", tail)
        )


def _failure_args(failure: BenchmarkFailure, tail: str) -> tuple[Any, ...]:
    if isinstance(failure, BenchmarkStopped):
        return (_with_tail(failure.message, tail),)
    return (failure.kind, _with_tail(failure.message, tail))


def _with_tail(message: str, tail: str) -> str:
    return f"{message}\n--- last lines of the benchmark's output ---\n{tail}" if tail else message


def run_isolated(
    spec: Any,
    timeout_s: float,
    *,
    memory_limit_mb: int | None = None,
    stop_event: threading.Event | None = None,
    task_class: type | None = None,
    poll_interval_s: float = 0.5,
) -> Result:
    """Run `spec` in a child process and return its Result, or raise a classified BenchmarkFailure.

    A run past `timeout_s` is killed (its whole process group) and fails with TIMEOUT; setting `stop_event`
    stops it and raises BenchmarkStopped.
    """
    bench = IsolatedBenchmark(spec, memory_limit_mb=memory_limit_mb, task_class=task_class)
    bench.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not bench.wait(timeout=min(poll_interval_s, max(deadline - time.monotonic(), 0.0))):
            if stop_event is not None and stop_event.is_set():
                bench.terminate()
                break
            if time.monotonic() >= deadline:
                bench.terminate(
                    grace_s=2.0,
                    failure=BenchmarkFailure(ErrorKind.TIMEOUT, f"no result after {timeout_s:.0f} s; stopped"),
                )
                break
        return bench.result()
    finally:
        if bench.poll() is False:
            bench.terminate(grace_s=1.0)
        bench.cleanup()


# --- the child --------------------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this child when its worker dies (Linux), so a crashed worker never leaves a
    benchmark running beside the one a new worker starts for the same request, on the same device."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the worker died before the request above took effect
        os._exit(1)


def _apply_runtime(spec: dict[str, Any]) -> None:
    """The task config's runtime for this process, pinned to its cores; read from the spec without torch."""
    from leaderboard_data.configs import TaskConfig
    from runner.runtime import apply_runtime

    apply_runtime(TaskConfig.model_validate(spec["task_config"]).runtime, spec["device"], pin=True)


def _child(payload_path: Path, result_path: Path) -> int:
    payload = json.loads(payload_path.read_text())
    _die_with_parent(int(payload["parent_pid"]))
    limit = payload.get("memory_limit_mb")
    if limit:
        limit_bytes = int(limit) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    try:
        _apply_runtime(payload["spec"])  # threads, wait policy and cores, before torch starts its thread pools
        import transformers

        from runner.engine import BenchmarkSpec, classify_exception, run_benchmark

        transformers.logging.set_verbosity_error()  # per-query generation notices would drown the worker's log
    except Exception as exc:  # the engine itself failed to import: out of memory, a broken install
        traceback.print_exc()
        kind = ErrorKind.OUT_OF_MEMORY if isinstance(exc, MemoryError) else ErrorKind.INTERNAL
        result_path.write_text(json.dumps({"ok": False, "kind": kind.value, "message": f"engine import failed: {exc}"}))
        return 0
    try:
        task_class = None
        if payload.get("task_class"):
            module, name = payload["task_class"]
            task_class = getattr(importlib.import_module(module), name)
        spec = BenchmarkSpec.from_dict(payload["spec"])
        result = run_benchmark(spec, task_class=task_class)
        outcome: dict[str, Any] = {"ok": True, "result": result.to_dict()}
    except BenchmarkFailure as exc:
        outcome = {"ok": False, "kind": exc.kind.value, "message": exc.message}
    except Exception as exc:
        traceback.print_exc()
        failure = classify_exception(exc, "setup")
        outcome = {"ok": False, "kind": failure.kind.value, "message": failure.message}
    result_path.write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), Path(sys.argv[2])))
