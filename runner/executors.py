"""Where a benchmark runs while the worker keeps its lease alive: a local child process, or a Ray cluster.

Both give the worker the same handle: poll until a Result (or a BenchmarkFailure) comes back, or terminate.
"""

from __future__ import annotations

import time
from typing import Protocol

from leaderboard_data.model_files import folder_parameters
from leaderboard_data.records import ErrorKind, Result
from runner.engine import DTYPE_BYTES, MEMORY_OVERHEAD, BenchmarkSpec
from runner.errors import BenchmarkFailure
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
    """Each benchmark in its own child process on this machine, killed at its wall-clock timeout.

    With `memory_limit_mb` (the child's address-space limit), a model whose weights plus 20% cannot fit is
    refused with OUT_OF_MEMORY before any child starts, as the engine's GPU pre-check does for GPU memory; both count
    parameters as the data layer does (`model_files.folder_parameters`: each weight once).
    """

    def __init__(self, memory_limit_mb: int | None = None) -> None:
        self.memory_limit_mb = memory_limit_mb

    def capacity(self) -> int:
        return 1

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> BenchmarkHandle:
        refusal = self._memory_refusal(spec)
        if refusal is not None:
            return _RefusedHandle(refusal)
        return _LocalHandle(IsolatedBenchmark(spec, memory_limit_mb=self.memory_limit_mb), timeout_s)

    def _memory_refusal(self, spec: BenchmarkSpec) -> BenchmarkFailure | None:
        if self.memory_limit_mb is None:
            return None
        params = folder_parameters(spec.model_dir) or 0
        need_mb = params * DTYPE_BYTES.get(spec.resolved_precision, 4) * MEMORY_OVERHEAD / 2**20
        if need_mb <= self.memory_limit_mb:
            return None
        return BenchmarkFailure(
            ErrorKind.OUT_OF_MEMORY,
            f"{params:,} parameters in {spec.resolved_precision} need about {need_mb:,.0f} MiB (weights + 20%); "
            f"benchmarks here may use {self.memory_limit_mb:,} MiB",
        )


class _RefusedHandle:
    """A benchmark refused before it started: the first poll reports why."""

    def __init__(self, failure: BenchmarkFailure) -> None:
        self._failure = failure

    def poll(self, timeout_s: float) -> Result | None:
        raise self._failure

    def terminate(self) -> None:
        """Nothing runs."""


class _LocalHandle:
    def __init__(self, benchmark: IsolatedBenchmark, timeout_s: float) -> None:
        self._benchmark = benchmark
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self._benchmark.start()

    def poll(self, timeout_s: float) -> Result | None:
        if not self._benchmark.wait(timeout_s):
            if time.monotonic() < self._deadline:
                return None
            self._benchmark.terminate(
                grace_s=2.0,
                failure=BenchmarkFailure(ErrorKind.TIMEOUT, f"no result after {self._timeout_s:.0f} s; stopped"),
            )
        return self._benchmark.result()

    def terminate(self) -> None:
        self._benchmark.terminate()
        self._benchmark.cleanup()
