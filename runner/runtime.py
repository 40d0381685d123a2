"""The benchmark process's threads, OpenMP wait policy and cores, as the task config's `runtime` fixes them.

With torch's default threads (one per core) and OpenMP's spin-waiting between parallel regions, a model beside a
process that keeps one core busy burned CPU without making progress: its own CPU time, hence its CPU estimate,
grew 8-fold and its figure 3.6-77-fold. Fixed threads and a passive wait policy make the figure independent of a
neighbour's load; pinning the process to its own cores lets the foreign-load check judge only the cores that can
affect the figure.

The OpenMP runtime reads its environment once, when torch loads it, so a process that runs one benchmark (the
isolated child, `energy-score bench`) applies the runtime before anything imports torch, with `pin=True`. An
in-process run (tests, bench scripts) still gets the thread counts; its record says which wait policy was in
effect and that it was not pinned.

Example:
    record = apply_runtime(config.runtime, "cpu", pin=True)   # before torch is imported
    ...                                                      # run the benchmark
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import psutil

from leaderboard_data.configs import Device, RuntimeSettings
from leaderboard_data.records import RuntimeRecord
from runner.meters.load_monitor import busy_seconds

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"

_pinned_cores: list[int] | None = None
"""The cores this process was pinned to by `apply_runtime(..., pin=True)`; None while it is not pinned."""
_allowed_cores: list[int] = sorted(os.sched_getaffinity(0))
"""The cores this process could run on before it was pinned: those it may move to."""


def allowed_cores() -> list[int]:
    """The cores this process could run on before it was pinned."""
    return list(_allowed_cores)


def thread_env(settings: RuntimeSettings, device: Device) -> dict[str, str]:
    """The environment that fixes the math libraries' threads and OpenMP's wait policy."""
    threads = str(settings.intra_op_threads.for_device(device))
    return {
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        WAIT_POLICY_ENV: settings.omp_wait_policy.upper(),
        "TOKENIZERS_PARALLELISM": "false",  # one query at a time: tokenization in the benchmark's own thread
    }


def least_busy_cores(count: int, ps: ModuleType | Any = psutil, probe_s: float = 0.2) -> list[int]:
    """The `count` cores (of those this process may use) with the least busy time over a short probe."""
    allowed = sorted(os.sched_getaffinity(0))
    if count >= len(allowed):
        return allowed
    before = ps.cpu_times(percpu=True)
    time.sleep(probe_s)
    after = ps.cpu_times(percpu=True)
    busy = {core: busy_seconds(after[core]) - busy_seconds(before[core]) for core in allowed}
    return sorted(sorted(allowed, key=lambda core: (busy[core], core))[:count])


def pin_process(cores: Sequence[int]) -> None:
    """Pin every thread of this process, and so every thread and child it starts later, to `cores`."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended since the listing
            os.sched_setaffinity(int(tid), cores)


def apply_runtime(settings: RuntimeSettings, device: Device, *, pin: bool = False) -> RuntimeRecord:
    """Set threads and wait policy (and, with `pin`, the cores) for this process; returns what is in effect."""
    global _pinned_cores
    if pin:
        cores = least_busy_cores(settings.pinned_cores.for_device(device))
        pin_process(cores)
        _pinned_cores = cores
    if "torch" not in sys.modules:
        os.environ.update(thread_env(settings, device))
    import torch

    torch.set_num_threads(settings.intra_op_threads.for_device(device))
    with contextlib.suppress(RuntimeError):  # refused once inter-op work started; the record says what holds
        torch.set_num_interop_threads(settings.inter_op_threads.for_device(device))
    return RuntimeRecord(
        intra_op_threads=torch.get_num_threads(),
        inter_op_threads=torch.get_num_interop_threads(),
        omp_wait_policy=os.environ.get(WAIT_POLICY_ENV, "unset").lower(),
        pinned_cores=_pinned_cores,
    )
