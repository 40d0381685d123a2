"""The worker behind `energy-score run`: claim, benchmark in isolation, publish, repeat.

Guarantees: a request is worked on by one worker at a time (the queue's leases); a model problem fails only its
own request, with its reason; a transient store problem is retried; a measured result is written to a spool
file before it is committed, so a crash or a store outage never loses it; SIGINT/SIGTERM stops the benchmark and
returns the request to PENDING with nothing half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import LeaseLostError, QueueError, RecordValidationError, StoreError, TransientStoreError
from leaderboard_data.model_checks import ModelCheckError, check_model, inspect_model_folder
from leaderboard_data.queue import RequestQueue
from leaderboard_data.records import ErrorKind, Request, Result
from leaderboard_data.results import ResultsPublisher
from leaderboard_data.stores import Stores, open_stores
from runner.engine import BenchmarkSpec
from runner.errors import BenchmarkFailure, BenchmarkLost
from runner.executors import BenchmarkHandle, Executor, LocalProcessExecutor

if TYPE_CHECKING:
    from runner.verification import VerifyScheduler

log = logging.getLogger("energy_score.worker")
T = TypeVar("T")


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class WorkerOptions:
    """How a worker behaves; the CLI's `run` options map one to one."""

    worker_id: str = field(default_factory=default_worker_id)
    device: str = "cpu"
    poll_s: float = 10.0
    max_jobs: int | None = None
    exit_when_empty: bool = False
    hardware_class: str | None = None
    samples: int | None = None
    repetitions: int | None = None
    lease_s: float = 600.0
    country_iso_code: str = "USA"
    max_store_retries: int = 5

    @property
    def heartbeat_s(self) -> float:
        """Renew the lease four times per lease period, so one missed beat never loses it."""
        return max(0.2, self.lease_s / 4)


@dataclass
class _Job:
    request: Request
    handle: BenchmarkHandle
    next_beat: float
    result: Result | None = None  # measured but not yet committed: kept until a commit succeeds


@dataclass
class WorkerStats:
    finished: int = 0
    failed: int = 0
    released: int = 0
    recovered: int = 0


class Worker:
    """One worker over one deployment's stores. `stop()` may be called from a signal handler."""

    def __init__(
        self,
        stores: Stores,
        task_configs: dict[str, TaskConfig],
        options: WorkerOptions,
        executor: Executor | None = None,
    ) -> None:
        self.stores = stores
        self.task_configs = task_configs
        self.options = options
        self.executor: Executor = executor or LocalProcessExecutor()
        self.queue = RequestQueue(stores.requests, task_configs, lease_s=options.lease_s)
        self.publisher = ResultsPublisher(stores.requests, stores.results, task_configs)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self.verifier: VerifyScheduler | None = None  # `--verify-share`: re-measures others' results when idle

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> WorkerStats:
        """Work until stopped, `max_jobs` is reached, or (with exit_when_empty) the queue is empty.

        As many benchmarks are in flight as the executor has slots: one for a local child process, the free
        GPUs or CPU slots of a Ray cluster. Each lease is renewed while its benchmark runs.
        """
        log.info("worker %s started on %s (store %s)", self.options.worker_id, self.options.device, self.stores.spec)
        self._recover_spool()
        self._publish_pending()
        jobs: list[_Job] = []
        started = 0
        while True:
            if self.stopping:
                self._release_all(jobs)
                break
            queue_empty = False
            while len(jobs) < self.executor.capacity() and not self._quota_reached(started):
                try:
                    claimed, job = self._start_next()
                except TransientStoreError as exc:
                    log.warning("store unavailable (%s); retrying after backoff", exc)
                    self._sleep(self._backoff(1))
                    break
                except LeaseLostError as exc:  # the lease ran out before the benchmark could start
                    log.warning("dropped a request whose lease expired while starting it: %s", exc)
                    continue
                if not claimed:
                    queue_empty = True
                    break
                started += 1
                if job is not None:
                    jobs.append(job)
            if not jobs:
                if queue_empty and self.verifier is not None:
                    self.verifier.run_if_due(lambda: self.stopping)
                if self._quota_reached(started) or (queue_empty and self.options.exit_when_empty):
                    break
                if queue_empty:
                    self._sleep(self.options.poll_s * random.uniform(0.5, 1.5))
                continue
            jobs = [job for job in jobs if not self._step(job, poll_s=0.2 / len(jobs))]
        self._publish_pending()
        log.info("worker %s stopped: %s", self.options.worker_id, self.stats)
        return self.stats

    def _quota_reached(self, started: int) -> bool:
        return self.options.max_jobs is not None and started >= self.options.max_jobs

    def _start_next(self) -> tuple[bool, _Job | None]:
        """Claim a request and start its benchmark: (whether one was claimed, its job unless it failed early)."""
        request = self.queue.claim(self.options.worker_id, tasks=set(self.task_configs))
        if request is None:
            return False, None
        log.info("claimed %s: %s@%s for %s", request.request_id, request.model_id, request.revision[:12], request.task)
        config = self.task_configs[request.task]
        try:
            log.info("checking and fetching %s", request.model_id)
            # The repository as a whole first (the download leaves out code and pickles), then the files fetched.
            check_model(self.stores.models.info(request.model_id, request.revision), config)
            folder = self.stores.models.download(request.model_id, request.revision)
            inspect_model_folder(folder, request.model_id, request.revision, config)
            handle = self.executor.start(self._spec(request, folder, config), config.timeout_s)
        except ModelCheckError as exc:
            self._fail(request, exc.kind, str(exc))
            return True, None
        except TransientStoreError:
            worker_id = self.options.worker_id
            try:
                self._call_store(lambda: self.queue.release(request.request_id, worker_id, "model fetch failed"))
            except LeaseLostError:
                log.warning("lease on %s expired while fetching; it is another worker's now", request.request_id)
            raise
        except Exception as exc:  # one bad request must never kill the worker
            log.exception("internal error starting %s", request.request_id)
            self._fail(request, ErrorKind.INTERNAL, f"internal error in the worker: {type(exc).__name__}: {exc}")
            return True, None
        log.info("benchmarking %s (timeout %.0f s)", request.request_id, config.timeout_s)
        return True, _Job(request, handle, time.monotonic() + self.options.heartbeat_s)

    def _step(self, job: _Job, poll_s: float) -> bool:
        """Advance one job: poll it, renew its lease when due; True once the job is over."""
        request = job.request
        try:
            result = job.result or job.handle.poll(poll_s)
            if result is not None:
                job.result = result  # a handle gives its result once; a failed commit is retried from here
                self._finish(request, result)
                return True
            if time.monotonic() >= job.next_beat:
                self._call_store(lambda: self.queue.heartbeat(request.request_id, self.options.worker_id))
                job.next_beat = time.monotonic() + self.options.heartbeat_s
            return False
        except BenchmarkLost as lost:
            reason = f"benchmark lost: {lost}"
            log.warning("%s: %s; returning it to the queue", request.request_id, reason)
            self._call_store(lambda: self.queue.release(request.request_id, self.options.worker_id, reason))
            self.stats.released += 1
            return True
        except BenchmarkFailure as failure:
            if failure.kind == ErrorKind.MACHINE_BUSY:  # the machine's fault, not the model's: not charged
                note = f"machine busy: {failure.message}"
                log.warning("%s: %s; returning it to the queue", request.request_id, note)
                self._call_store(lambda: self.queue.release(request.request_id, self.options.worker_id, note))
                self.stats.released += 1
                return True
            self._fail(request, failure.kind, failure.message)
            return True
        except LeaseLostError as exc:
            log.warning("lost the lease on %s (%s); dropping my work on it", request.request_id, exc)
            job.handle.terminate()
            return True
        except TransientStoreError as exc:
            log.warning("store unavailable while running %s (%s); will retry", request.request_id, exc)
            return False
        except Exception as exc:  # one bad request must never kill the worker
            log.exception("internal error on %s", request.request_id)
            job.handle.terminate()
            self._fail(request, ErrorKind.INTERNAL, f"internal error in the worker: {type(exc).__name__}: {exc}")
            return True

    def _release_all(self, jobs: list[_Job]) -> None:
        """Stop every benchmark in flight and hand its request back: nothing half-measured is kept."""
        for job in jobs:
            job.handle.terminate()
            try:
                release = functools.partial(
                    self.queue.release, job.request.request_id, self.options.worker_id, "worker stopped"
                )
                self._call_store(release)
                self.stats.released += 1
                log.info("released %s back to PENDING", job.request.request_id)
            except (LeaseLostError, TransientStoreError) as exc:
                log.warning("could not release %s (%s); its lease will expire", job.request.request_id, exc)

    def _spec(self, request: Request, folder: Path, config: TaskConfig) -> BenchmarkSpec:
        return BenchmarkSpec(
            model_id=request.model_id,
            model_dir=folder,
            revision=request.revision,
            task_config=config,
            device="cuda" if self.options.device == "cuda" else "cpu",
            precision=request.precision,
            samples=self.options.samples,
            repetitions=self.options.repetitions,
            dataset_path=self.stores.dataset_path(config),
            request_id=request.request_id,
            worker_id=self.options.worker_id,
            hardware_class=self.options.hardware_class,
            country_iso_code=self.options.country_iso_code,
        )

    def _finish(self, request: Request, result: Result) -> None:
        spool = self._spool_path(request.request_id)
        spool.parent.mkdir(parents=True, exist_ok=True)
        partial = spool.with_suffix(f".{os.getpid()}.tmp")  # a crash mid-write never leaves half a result
        partial.write_text(result.to_json(), encoding="utf-8")
        partial.replace(spool)
        self._call_store(lambda: self.queue.finish(request.request_id, self.options.worker_id, result))
        spool.unlink(missing_ok=True)  # another worker sharing the spool folder may have recovered it
        self.stats.finished += 1
        log.info(
            "finished %s: %.4g Wh per 1,000 queries (%s)",
            request.request_id,
            result.scored_energy_wh_per_1k,
            result.scored_device,
        )
        self._publish_pending()

    def _fail(self, request: Request, kind: ErrorKind, message: str) -> None:
        log.warning("failed %s: %s: %s", request.request_id, kind.value, message)
        try:
            self._call_store(lambda: self.queue.fail(request.request_id, self.options.worker_id, kind, message))
            self.stats.failed += 1
        except LeaseLostError:
            log.warning("lease on %s already lost; leaving it to its new holder", request.request_id)

    def _spool_path(self, request_id: str) -> Path:
        return self.stores.spool_dir / f"{request_id}.json"

    def _recover_spool(self) -> None:
        """Commit results measured before a crash or an outage: the queue accepts one only while the request is
        not finished by anyone else, so a recovered result is never published twice."""
        folder = self.stores.spool_dir
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            try:
                result = Result.from_json(path.read_bytes(), str(path))
            except FileNotFoundError:
                continue  # settled meanwhile by the worker sharing this spool folder that wrote it
            except RecordValidationError as exc:
                log.error("spooled result unreadable, left in place: %s", exc)
                continue
            try:
                self._call_store(functools.partial(self.queue.finish_recovered, result))
                self.stats.recovered += 1
                log.info("published spooled result %s", result.result_id)
            except QueueError as exc:
                log.warning("spooled result %s not needed: %s", result.result_id, exc)
            path.unlink(missing_ok=True)

    def _publish_pending(self) -> None:
        try:
            published = self.publisher.publish_pending()
        except StoreError as exc:  # unavailable, or other publishers kept committing first: publishing is idempotent
            log.warning("publishing deferred: %s", exc)
            return
        for result_id in published:
            log.info("published result %s to %s", result_id, self.stores.results.location)

    def _call_store(self, operation: Callable[[], T]) -> T:
        """Run a queue operation, retrying transient store failures with exponential backoff and jitter."""
        for attempt in range(1, self.options.max_store_retries + 1):
            try:
                return operation()
            except TransientStoreError as exc:
                if attempt == self.options.max_store_retries:
                    raise
                delay = self._backoff(attempt)
                log.warning("store error (%s); retry %d in %.1f s", exc, attempt, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)


def run_worker_command(args: argparse.Namespace) -> int:
    """The CLI's `run`: build a worker from the options and run it with clean signal handling."""
    stores = open_stores(args.store)
    options = WorkerOptions(
        worker_id=args.worker_id or default_worker_id(),
        device=args.device,
        poll_s=args.poll,
        max_jobs=1 if args.once else args.max_jobs,
        exit_when_empty=args.exit_when_empty or args.once,
        hardware_class=args.hardware_class,
        samples=args.samples,
        repetitions=args.repetitions,
        lease_s=args.lease,
    )
    executor: Executor | None = None
    if args.executor == "ray":
        from runner.ray_executor import RayExecutor

        executor = RayExecutor(
            address=args.address, device=args.device, hardware_class=args.hardware_class, store_spec=stores.spec
        )
    worker = Worker(stores, load_task_configs(), options, executor)
    if args.verify_share:
        from runner.hardware import fingerprint
        from runner.verification import VerifyScheduler

        worker.verifier = VerifyScheduler(
            stores,
            worker.task_configs,
            share=args.verify_share,
            worker_id=options.worker_id,
            device=options.device,
            hardware_class=options.hardware_class or fingerprint(options.device).hardware_class,
            executor=executor,
        )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing cleanly", signal.Signals(signum).name)
        worker.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            signal.signal(sig, on_signal)
    worker.run()
    return 0
