"""The worker behind `energy-score run`: claim, benchmark in isolation, publish, repeat.

Guarantees: a request is worked on by one worker at a time (the queue's leases); a model problem fails only its
own request, with its reason; a transient store problem is retried; a measured result is written to a spool
file before it is committed, so a crash or a store outage never loses it; SIGINT/SIGTERM stops the benchmark and
returns the request to PENDING with nothing half-written.

A failure that is not the model's fault (`records.NOT_MODELS_FAULT`: the task's dataset or the network cannot be
reached, a model download fails transiently) releases the request with a growing pause before anyone claims it
again and never spends the submitter's attempt; when such failures repeat, the worker itself pauses. Publishing
results never stops the worker: a publish that fails is retried later.
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
from leaderboard_data.protocols import ProtocolProfile, load_protocol_profile
from leaderboard_data.queue import RequestQueue
from leaderboard_data.records import ErrorKind, Request, Result, is_models_fault
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
    """Overrides of the protocol's plan: results measured with them are exploratory (published, never rated)."""
    protocol: ProtocolProfile | None = None
    """A protocol profile (the demo's) instead of each task config's standard protocol."""
    lease_s: float | None = None  # None: each task's timeout plus the queue's margin
    country_iso_code: str = "USA"
    max_store_retries: int = 5
    infra_retry_s: float = 60.0
    pause_after_infra_failures: int = 3
    infra_pause_s: float = 300.0
    publish_retry_s: float = 60.0
    outbox_linger_s: float = 600.0
    finish_hold_s: float = 600.0


@dataclass
class _Job:
    request: Request
    handle: BenchmarkHandle
    next_beat: float
    result: Result | None = None  # measured but not yet committed: kept until a commit succeeds
    claimed_next: Request | None = None  # claimed in the commit that finished this job
    held_since: float | None = None  # when the result came; it waits (spooled) for a claim to commit with
    next_look: float = 0.0
    settle: Callable[[], None] | None = None  # how the job ends (fail, release), retried until the store takes it
    retry_at: float = 0.0


class _InfrastructureFailure(Exception):
    """A request could not be worked on for a reason that is not the model's fault."""


@dataclass
class WorkerStats:
    finished: int = 0
    failed: int = 0
    released: int = 0
    recovered: int = 0
    infrastructure_failures: int = 0
    pauses: int = 0
    publish_failures: int = 0


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
        self._infra_streak = 0  # infrastructure failures in a row, reset by any benchmark that ran to its end
        self._paused_until = 0.0
        self._publish_due = 0.0  # monotonic time of the next publish try; 0: nothing deferred
        self._started = 0
        self._claim_failures = 0  # claims in a row the store could not answer: the pause before the next grows
        self._outbox_done: set[str] = set()  # published outbox files, deleted by our next queue commit
        self._outbox_done_since = 0.0
        self.verifier: VerifyScheduler | None = None  # `--verify-share`: re-measures others' results when idle

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> WorkerStats:
        """Work until stopped, `max_jobs` is reached, or (with exit_when_empty) the queue is empty.

        As many benchmarks are in flight as the executor has slots: one for a local child process, the free
        GPUs or CPU slots of a Ray cluster. A finished benchmark is settled, and the next request claimed, in one
        commit; the lease covers the task's timeout, so a running benchmark only reads the queue.
        """
        log.info("worker %s started on %s (store %s)", self.options.worker_id, self.options.device, self.stores.spec)
        self._recover_spool()
        self._release_own()
        self._publish_pending()
        jobs: list[_Job] = []
        while True:
            if self.stopping:
                self._release_all(jobs)
                break
            queue_empty = False
            if self._publish_due and time.monotonic() >= self._publish_due:
                self._publish_pending()
            while self._wants_more() and len(jobs) < self.executor.capacity():
                try:
                    requests = self._claim(self._free_slots(len(jobs)))
                except StoreError as exc:  # transient or not, a claim that failed never ends the worker
                    self._claim_failures += 1
                    delay = self._backoff(self._claim_failures)
                    log.log(
                        logging.WARNING if isinstance(exc, TransientStoreError) else logging.ERROR,
                        "could not claim (%s); retrying in %.0f s",
                        exc,
                        delay,
                    )
                    self._sleep(delay)
                    break
                self._claim_failures = 0
                if not requests:
                    queue_empty = True
                    break
                jobs += [job for request in requests if (job := self._start(request))]
            if not jobs:
                self._clear_lingering_outbox()
                if queue_empty and self.verifier is not None:
                    self.verifier.run_if_due(lambda: self.stopping)
                if self._quota_reached() or (queue_empty and self.options.exit_when_empty):
                    break
                if self._paused():
                    self._sleep(min(self._paused_until - time.monotonic(), self.options.poll_s))
                elif queue_empty:
                    self._sleep(self.options.poll_s * random.uniform(0.5, 1.5))
                continue
            jobs = self._step_all(jobs)
        self._publish_pending()
        self._clear_lingering_outbox(now=True)
        log.info("worker %s stopped: %s", self.options.worker_id, self.stats)
        return self.stats

    def _step_all(self, jobs: list[_Job]) -> list[_Job]:
        """Advance every job; a job that ended with the next request claimed is replaced by that request's job."""
        remaining = []
        for job in jobs:
            if not self._step(job, poll_s=0.2 / len(jobs)):
                remaining.append(job)
            elif job.claimed_next is not None and (follow := self._start(job.claimed_next)):
                remaining.append(follow)
        if remaining and all(job.result is not None for job in remaining):  # only held results: nothing to poll
            self._sleep(min(1.0, max(0.05, min(job.next_look for job in remaining) - time.monotonic())))
        return remaining

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _quota_reached(self) -> bool:
        return self.options.max_jobs is not None and self._started >= self.options.max_jobs

    def _wants_more(self) -> bool:
        """Whether to take another request now (slots aside)."""
        return not self.stopping and not self._paused() and not self._quota_reached()

    def _free_slots(self, running: int) -> int:
        """Requests to claim now: the executor's free slots, within what is left of `max_jobs`."""
        free = self.executor.capacity() - running
        if self.options.max_jobs is not None:
            free = min(free, self.options.max_jobs - self._started)
        return max(free, 1)

    def _claim(self, count: int) -> list[Request]:
        """Requests for this worker's free slots, in one commit that also clears our published outbox files."""
        clear = set(self._outbox_done)
        claimed = self.queue.claim_many(self.options.worker_id, count, tasks=set(self.task_configs), clear_outbox=clear)
        if claimed:
            self._outbox_done -= clear
        return claimed

    def _start(self, request: Request) -> _Job | None:
        """Fetch the model and start its benchmark: the job, or None if the request ended (failed, released).

        If the store cannot take the outcome (a failure or a release), the request keeps its lease until it
        expires and goes back to the queue then; the worker goes on either way.
        """
        self._started += 1
        try:
            return self._start_benchmark(request)
        except StoreError as exc:
            log.warning("could not record the outcome of %s (%s); its lease will expire", request.request_id, exc)
            return None

    def _start_benchmark(self, request: Request) -> _Job | None:
        log.info("claimed %s: %s@%s for %s", request.request_id, request.model_id, request.revision[:12], request.task)
        config = self.task_configs[request.task]
        try:
            folder = self._fetch(request, config)
            inspect_model_folder(folder, request.model_id, request.revision, config)
            handle = self.executor.start(self._spec(request, folder, config), config.timeout_s)
        except ModelCheckError as exc:
            self._fail(request, exc.kind, str(exc))
            return None
        except _InfrastructureFailure as exc:
            self._release_for_infrastructure(request, str(exc))
            return None
        except Exception as exc:  # one bad request must never kill the worker
            log.exception("internal error starting %s", request.request_id)
            self._fail(request, ErrorKind.INTERNAL, f"internal error in the worker: {type(exc).__name__}: {exc}")
            return None
        log.info("benchmarking %s (timeout %.0f s)", request.request_id, config.timeout_s)
        return _Job(request, handle, time.monotonic() + self._beat_s(request))

    def _beat_s(self, request: Request) -> float:
        """How often a running job checks its lease: four times per lease, so one missed check never loses it.
        A check only reads; the queue renews (commits) only a lease less than half left."""
        return max(0.2, self.queue.lease_for(request.task) / 4)

    def _fetch(self, request: Request, config: TaskConfig) -> Path:
        """Check the repository as a whole (the download leaves out code and pickles), then fetch its files.

        A ModelCheckError is the model's fault; anything else going wrong here (a timeout, a dropped connection,
        a storage backend error) is the network's or the Hub's, and becomes an _InfrastructureFailure.
        """
        log.info("checking and fetching %s", request.model_id)
        try:
            check_model(self.stores.models.info(request.model_id, request.revision), config)
            return self.stores.models.download(request.model_id, request.revision)
        except ModelCheckError:
            raise
        except Exception as exc:
            raise _InfrastructureFailure(f"model fetch failed: {type(exc).__name__}: {exc}") from exc

    def _release_for_infrastructure(self, request: Request, reason: str) -> None:
        """Give the request back with a growing pause, without spending its attempt; pause if this repeats."""
        self.stats.infrastructure_failures += 1
        self._infra_streak += 1
        delay = min(3600.0, self.options.infra_retry_s * 2**request.infrastructure_failures) * random.uniform(0.5, 1)
        log.warning("%s: %s (not the model's fault); back in the queue in %.0f s", request.request_id, reason, delay)
        try:
            self._call_store(
                lambda: self.queue.release(request.request_id, self.options.worker_id, reason, retry_in_s=delay)
            )
            self.stats.released += 1
        except LeaseLostError:
            log.warning("lease on %s already lost; leaving it to its new holder", request.request_id)
        except StoreError as exc:
            log.warning("could not release %s (%s); its lease will expire", request.request_id, exc)
        if self._infra_streak >= self.options.pause_after_infra_failures:
            pause = self.options.infra_pause_s * random.uniform(0.75, 1.25)
            self._paused_until = time.monotonic() + pause
            self._infra_streak = 0
            self.stats.pauses += 1
            streak = self.options.pause_after_infra_failures
            log.warning("%d failures in a row were not the models' fault; pausing for %.0f s", streak, pause)

    def _step(self, job: _Job, poll_s: float) -> bool:
        """Advance one job: poll it, renew its lease when due; True once the job is over."""
        request = job.request
        if job.settle is not None:
            return self._settle(job)
        if job.result is not None and time.monotonic() < job.retry_at:
            return False  # a measured result whose commit failed: spooled, tried again after a pause
        try:
            result = job.result or job.handle.poll(poll_s)
            if result is not None:
                if job.result is None:
                    job.result = result  # a handle gives its result once; a failed commit is retried from here
                    self._spool(request, result)
                    job.held_since = time.monotonic()
                    self._infra_streak = 0
                if not self._finish_due(job):
                    return False
                self._finish(job)
                return True
            if time.monotonic() >= job.next_beat:
                self._call_store(lambda: self.queue.heartbeat(request.request_id, self.options.worker_id))
                job.next_beat = time.monotonic() + self._beat_s(request)
            return False
        except BenchmarkLost as lost:
            reason = f"benchmark lost: {lost}"
            log.warning("%s: %s; returning it to the queue", request.request_id, reason)
            job.settle = functools.partial(self._release, request, reason)
        except BenchmarkFailure as failure:
            if is_models_fault(failure.kind):
                self._infra_streak = 0
                job.settle = functools.partial(self._fail, request, failure.kind, failure.message)
            else:
                reason = f"{failure.kind.value}: {failure.message}"
                job.settle = functools.partial(self._release_for_infrastructure, request, reason)
        except LeaseLostError as exc:
            log.warning("lost the lease on %s (%s); dropping my work on it", request.request_id, exc)
            job.handle.terminate()
            return True
        except TransientStoreError as exc:
            log.warning("store unavailable while running %s (%s); will retry", request.request_id, exc)
            return False
        except Exception as exc:  # one bad request must never kill the worker
            if job.result is not None and isinstance(exc, StoreError):  # never throw a measured result away
                job.retry_at = time.monotonic() + self._backoff(self.options.max_store_retries)
                log.error("could not commit the result of %s (%s); spooled, will retry", request.request_id, exc)
                return False
            log.exception("internal error on %s", request.request_id)
            job.handle.terminate()
            message = f"internal error in the worker: {type(exc).__name__}: {exc}"
            job.settle = functools.partial(self._fail, request, ErrorKind.INTERNAL, message)
        return self._settle(job)

    def _settle(self, job: _Job) -> bool:
        """End a job that did not produce a result; a store outage keeps it for a later try, never kills us."""
        if time.monotonic() < job.retry_at or job.settle is None:
            return False
        try:
            job.settle()
        except TransientStoreError as exc:
            job.retry_at = time.monotonic() + self._backoff(1)
            log.warning("could not settle %s yet (%s); will retry", job.request.request_id, exc)
            return False
        except StoreError as exc:
            log.error("could not settle %s (%s); its lease will expire", job.request.request_id, exc)
        return True

    def _release(self, request: Request, reason: str) -> None:
        try:
            self._call_store(lambda: self.queue.release(request.request_id, self.options.worker_id, reason))
            self.stats.released += 1
        except LeaseLostError:
            log.warning("lease on %s already lost; leaving it to its new holder", request.request_id)

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
            except (LeaseLostError, StoreError) as exc:
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
            protocol=self.options.protocol,
            dataset_path=self.stores.dataset_path(config),
            request_id=request.request_id,
            worker_id=self.options.worker_id,
            hardware_class=self.options.hardware_class,
            country_iso_code=self.options.country_iso_code,
        )

    def _spool(self, request: Request, result: Result) -> None:
        """Keep a measured result on disk until the store has it: a crash or an outage never loses it."""
        spool = self._spool_path(request.request_id)
        spool.parent.mkdir(parents=True, exist_ok=True)
        partial = spool.with_suffix(f".{os.getpid()}.tmp")  # a crash mid-write never leaves half a result
        partial.write_text(result.to_json(), encoding="utf-8")
        partial.replace(spool)

    def _finish_due(self, job: _Job) -> bool:
        """Whether to commit a held result now: when its commit can carry the next claim (something waits), when
        no claim will follow (stopping, quota reached, paused), or once it has waited `finish_hold_s`.

        Holding a result for a little while is what keeps the requests repository at one commit per model when
        the queue runs dry between submission windows: otherwise the finish and the next claim are two commits.
        The check only reads, at most once per poll interval.
        """
        now = time.monotonic()
        if not self._wants_more() or job.held_since is None or now - job.held_since >= self.options.finish_hold_s:
            return True
        if now < job.next_look:
            return False
        job.next_look = now + self.options.poll_s * random.uniform(0.5, 1.5)
        try:
            waiting = self.queue.claimable(tasks=set(self.task_configs))
        except TransientStoreError:
            return False
        return waiting > 0 or self.options.exit_when_empty  # a worker about to exit has no claim to wait for

    def _finish(self, job: _Job) -> None:
        """Settle a spooled result, claim the next request and clear published outbox files: ONE commit."""
        request, result = job.request, job.result
        assert result is not None
        spool = self._spool_path(request.request_id)
        clear = set(self._outbox_done)
        _, claimed = self._call_store(
            lambda: self.queue.finish_and_claim(
                request.request_id,
                self.options.worker_id,
                result,
                claim_count=1 if self._wants_more() else 0,
                tasks=set(self.task_configs),
                clear_outbox=clear,
            )
        )
        self._outbox_done -= clear
        job.claimed_next = claimed[0] if claimed else None
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
            except StoreError as exc:
                log.error("could not commit spooled result %s (%s); kept for the next start", result.result_id, exc)
                continue
            path.unlink(missing_ok=True)

    def _publish_pending(self) -> None:
        """Publish the outbox; any failure (store, network, the Hub's upload backend) defers it, never stops us.

        The published outbox files are deleted by this worker's next queue commit (a claim), not by a commit
        of their own; `_clear_lingering_outbox` covers a worker that stays idle.
        """
        try:
            published = self.publisher.publish_pending(clear_outbox=False)
        except Exception as exc:  # publishing is idempotent: whatever broke, the outbox keeps the results
            self.stats.publish_failures += 1
            self._publish_due = time.monotonic() + self.options.publish_retry_s * random.uniform(0.75, 1.25)
            log.warning("publishing deferred (%s: %s); retrying later", type(exc).__name__, exc)
            return
        self._publish_due = 0.0
        if self.publisher.settled_outbox and not self._outbox_done:
            self._outbox_done_since = time.monotonic()
        self._outbox_done.update(self.publisher.settled_outbox)
        for result_id in published:
            log.info("published result %s to %s", result_id, self.stores.results.location)

    def _clear_lingering_outbox(self, *, now: bool = False) -> None:
        """Delete published outbox files in a commit of their own once they waited `outbox_linger_s` for a claim
        to carry them (or at once when the worker exits)."""
        if not self._outbox_done:
            return
        if not now and time.monotonic() - self._outbox_done_since < self.options.outbox_linger_s:
            return
        clear = set(self._outbox_done)
        try:
            self._call_store(lambda: self.queue.clear_outbox(clear))
        except StoreError as exc:
            log.warning("could not clear the outbox yet (%s)", exc)
            return
        self._outbox_done -= clear

    def _release_own(self) -> None:
        """A worker restarted under its old id gives back what its previous run held, without waiting for the
        leases to expire (results it had spooled were recovered just before)."""
        try:
            released = self._call_store(lambda: self.queue.release_own(self.options.worker_id, "worker restarted"))
        except StoreError as exc:
            log.warning("could not check for requests held by a previous run (%s); their leases will expire", exc)
            return
        for request in released:
            log.info("released %s, held by this worker before it restarted", request.request_id)

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
        protocol=load_protocol_profile(args.protocol) if args.protocol else None,
        lease_s=args.lease,
        finish_hold_s=args.finish_hold,
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
