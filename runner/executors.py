"""Where a benchmark runs while the worker keeps its lease alive: a local child process, or a Ray cluster.

Both give the worker the same handle: poll until a Result (or a BenchmarkFailure) comes back, or terminate.
"""

from __future__ import annotations

from typing import Protocol

from leaderboard_data.records import Result
from runner.engine import BenchmarkSpec
from runner.isolation import IsolatedBenchmark


class BenchmarkHandle(Protocol):
    """A benchmark in flight."""

    def poll(self, timeout_s: float) -> Result | None:
        """Wait up to `timeout_s`; the Result when done, None while running.

        Raises BenchmarkFailure (the model's or the benchmark's fault) or BenchmarkLost (the machine's).
        """
        ...

    def terminate(self) -> None:
        """Stop the benchmark now; nothing it measured is kept."""
        ...


class Executor(Protocol):
    """Starts benchmarks."""

    def capacity(self) -> int:
        """How many benchmarks may be in flight at once."""
        ...

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> BenchmarkHandle: ...


class LocalProcessExecutor:
    """Each benchmark in its own child process on this machine, killed at its wall-clock timeout."""

    def __init__(self, memory_limit_mb: int | None = None) -> None:
        self.memory_limit_mb = memory_limit_mb

    def capacity(self) -> int:
        return 1

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> BenchmarkHandle:
        return _LocalHandle(IsolatedBenchmark(spec, timeout_s, memory_limit_mb=self.memory_limit_mb))


class _LocalHandle:
    def __init__(self, benchmark: IsolatedBenchmark) -> None:
        self._benchmark = benchmark
        self._benchmark.start()

    def poll(self, timeout_s: float) -> Result | None:
        return self._benchmark.wait(timeout_s)

    def terminate(self) -> None:
        self._benchmark.terminate()
