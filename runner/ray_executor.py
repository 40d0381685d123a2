"""Benchmarks as Ray tasks: one driver fills a cluster's free GPUs (or CPU slots) from the queue.

The driver (the ordinary Worker) claims requests, keeps their leases alive and publishes each result itself;
Ray only runs the measurement. Ray's own retries are off: a benchmark lost with its node or worker process comes
back as BenchmarkLost, the worker returns the request to PENDING, and it is measured again as a new, whole run.
With a hardware class, tasks land only on nodes started with the custom resource
`energy_score_hw:<class>` (e.g. `ray start --resources '{"energy_score_hw:h100-sxm-80gb": 8}'`).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, NodeDiedError, OwnerDiedError, TaskCancelledError, WorkerCrashedError

from leaderboard_data.records import ErrorKind, Result
from runner.engine import BenchmarkSpec, run_benchmark
from runner.errors import BenchmarkFailure, BenchmarkLost

HARDWARE_RESOURCE_PREFIX = "energy_score_hw:"
_LOST_ERRORS = (WorkerCrashedError, NodeDiedError, OwnerDiedError, TaskCancelledError)


def hardware_resource(hardware_class: str) -> str:
    return f"{HARDWARE_RESOURCE_PREFIX}{hardware_class}"


def _benchmark_on_node(spec: BenchmarkSpec, store_spec: str | None) -> dict[str, Any]:
    """Runs inside a Ray worker: fetch the model on this node if needed, measure, and say where it ran."""
    if not spec.model_dir.is_dir():
        from leaderboard_data.model_checks import inspect_model_folder
        from leaderboard_data.stores import open_stores

        spec.model_dir = open_stores(store_spec).models.download(spec.model_id, spec.revision)
        inspect_model_folder(spec.model_dir, spec.model_id, spec.revision, spec.task_config)
    try:
        result = run_benchmark(spec)
    except BenchmarkFailure as failure:
        return {"failure": {"kind": failure.kind.value, "message": failure.message}}
    node_id = ray.get_runtime_context().get_node_id()
    devices = ray.get_gpu_ids()
    where = f"{socket.gethostname()} (ray node {node_id[:12]}"
    where += f", gpu {','.join(str(d) for d in devices)})" if devices else ", cpu)"
    result.hardware.node = where
    return {"result": result.to_json()}


class RayExecutor:
    """Start benchmarks on a Ray cluster (`address`), or on a local one when no address is given."""

    def __init__(
        self,
        address: str | None = None,
        *,
        device: str = "cpu",
        hardware_class: str | None = None,
        cpus_per_benchmark: float = 1.0,
        store_spec: str | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing the project runs reports home
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
        self.device = device
        self.hardware_class = hardware_class
        self.cpus_per_benchmark = cpus_per_benchmark
        self.store_spec = store_spec
        options: dict[str, Any] = {"max_retries": 0, "num_cpus": cpus_per_benchmark}
        if device == "cuda":
            options["num_gpus"] = 1
        if hardware_class:
            options["resources"] = {hardware_resource(hardware_class): 0.001}
        self._remote = ray.remote(_benchmark_on_node).options(**options)

    def capacity(self) -> int:
        """Benchmarks the cluster can hold at once: its GPUs on cuda, else its CPUs per benchmark slot."""
        resources = ray.cluster_resources()
        if self.hardware_class and resources.get(hardware_resource(self.hardware_class), 0) <= 0:
            return 0
        if self.device == "cuda":
            return int(resources.get("GPU", 0))
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_benchmark))

    def start(self, spec: BenchmarkSpec, timeout_s: float) -> RayBenchmarkHandle:
        return RayBenchmarkHandle(self._remote.remote(spec, self.store_spec), timeout_s)


class RayBenchmarkHandle:
    """One benchmark in flight on the cluster."""

    def __init__(self, ref: ray.ObjectRef, timeout_s: float) -> None:
        self._ref = ref
        self._deadline = time.monotonic() + timeout_s
        self._timeout_s = timeout_s

    def poll(self, timeout_s: float) -> Result | None:
        ready, _ = ray.wait([self._ref], timeout=timeout_s)
        if not ready:
            if time.monotonic() > self._deadline:
                self.terminate()
                raise BenchmarkFailure(ErrorKind.TIMEOUT, f"benchmark exceeded its {self._timeout_s:.0f} s limit")
            return None
        try:
            outcome = ray.get(self._ref, timeout=1.0)
        except _LOST_ERRORS as exc:
            raise BenchmarkLost(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        except GetTimeoutError:
            return None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if exc.cause is not None else exc
            raise BenchmarkFailure(ErrorKind.INTERNAL, f"{type(cause).__name__}: {cause}") from exc
        if "failure" in outcome:
            failure = outcome["failure"]
            raise BenchmarkFailure(ErrorKind(failure["kind"]), failure["message"])
        return Result.from_json(outcome["result"], "ray task result")

    def terminate(self) -> None:
        ray.cancel(self._ref, force=True)
