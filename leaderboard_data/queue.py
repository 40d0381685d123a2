"""The request queue: benchmark requests as JSON files in a store, changed only by parent-checked commits.

Layout: `requests/<model_id>/<request_id>.json`, one `Request` record per file. A finished request's result goes
to `outbox/<task>/<result_id>.json` in the same commit as the FINISHED status, so a result is never published
for a request that is not finished, nor a request finished without its result.

Every operation reads the store once (listing plus files), decides against what it read, and commits on top of
the revision it read. When another process committed in between, the commit fails with ConflictError and the
operation starts over from a fresh read, so two workers can never both hold one request. A file that fails
validation is logged and reported by `invalid_records()`; it is never rewritten, and only operations that
target it fail.

Example:
    >>> queue = RequestQueue(LocalStore(tmp), load_task_configs())
    >>> request = queue.submit("org/model", task="text_classification", revision="0" * 40,
    ...                        precision="float32", submitter="alice")
    >>> claimed = queue.claim("worker-1")
    >>> queue.finish(claimed.request_id, "worker-1", result)
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from leaderboard_data.configs import PRECISIONS, TaskConfig
from leaderboard_data.errors import (
    ConflictError,
    DuplicateRequestError,
    FileNotInStoreError,
    LeaseLostError,
    QueueError,
    RateLimitedError,
    RecordValidationError,
    SubmissionError,
    TransientStoreError,
)
from leaderboard_data.model_ids import quote, validate_model_id, validate_revision, validate_submitter
from leaderboard_data.records import (
    ACTIVE_STATUSES,
    ErrorKind,
    Lease,
    Request,
    RequestStatus,
    Result,
    StatusChange,
    utc_now,
)
from leaderboard_data.stores.base import AddFile, CommitOperation, Store

logger = logging.getLogger(__name__)

REQUESTS_PREFIX = "requests/"
OUTBOX_PREFIX = "outbox/"
_MAX_NOTE = 2000
_MAX_ERROR_MESSAGE = 4000
_MAX_BACKOFF_S = 0.2

T = TypeVar("T")


def request_path(model_id: str, request_id: str) -> str:
    """Where a request lives in the store."""
    return f"{REQUESTS_PREFIX}{model_id}/{request_id}.json"


def outbox_path(task: str, result_id: str) -> str:
    """Where a finished result waits to be published."""
    return f"{OUTBOX_PREFIX}{task}/{result_id}.json"


def submitter_key(submitter: str) -> str:
    """Hub user names are case-insensitive, so quotas and fairness count 'Alice' and 'alice' as one person."""
    return submitter.casefold()


def _dedup_key(model_id: str, revision: str, task: str, precision: str) -> tuple[str, str, str, str]:
    """Hub repo ids are case-insensitive: 'Org/Model' and 'org/model' name the same model."""
    return (model_id.casefold(), revision, task, precision)


def duration_words(seconds: float) -> str:
    """A wait in words, to the second, with its two largest units: '3 hours 5 minutes'."""
    remaining = max(1, math.ceil(seconds))
    pieces = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            pieces.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(pieces[:2])


@dataclass(frozen=True)
class SubmissionQuota:
    """At most `max_requests` submissions per submitter within any `period_s` seconds."""

    max_requests: int = 10
    period_s: float = 86400.0

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.period_s <= 0:
            raise ValueError("a quota needs max_requests >= 1 and period_s > 0")


@dataclass(frozen=True)
class _Snapshot:
    """The requests folder as one operation read it, at `revision`."""

    revision: str
    requests: dict[str, Request]
    invalid: list[RecordValidationError]
    invalid_by_id: dict[str, RecordValidationError] = field(default_factory=dict)

    def find(self, request_id: str) -> Request:
        """The request, or QueueError if it is unknown or its file is invalid."""
        if request_id in self.invalid_by_id:
            error = self.invalid_by_id[request_id]
            raise QueueError(f"request {quote(request_id)} cannot be used: {error}")
        if request_id not in self.requests:
            raise QueueError(f"no request {quote(request_id)} in the queue")
        return self.requests[request_id]


@dataclass(frozen=True)
class _Plan(Generic[T]):
    """What an operation decided: the operations to commit (none: nothing to write) and what it returns."""

    value: T
    operations: Sequence[CommitOperation] = ()
    message: str = ""


def _parse_request_file(path: str, content: bytes) -> Request:
    """Validate one file of the requests folder, including that it sits at the path its record names."""
    if not path.endswith(".json") or path.count("/") < 2:
        raise RecordValidationError(path, "not a request file: expected requests/<model_id>/<request_id>.json")
    request = Request.from_json(content, path)
    try:
        validate_model_id(request.model_id)
    except SubmissionError as exc:
        raise RecordValidationError(path, f"model_id: {exc}") from exc
    expected = request_path(request.model_id, request.request_id)
    if path != expected:
        raise RecordValidationError(path, f"the record belongs at {expected}")
    return request


def _evolve(request: Request, **changes: Any) -> Request:
    """A validated copy with `changes` applied (model_copy would skip the record's consistency checks)."""
    return Request.model_validate(request.model_dump() | changes)


def _transition(
    request: Request, now: datetime, status: RequestStatus, *, worker_id: str | None, note: str, **changes: Any
) -> Request:
    """Move to `status`, adding a line to the history."""
    line = StatusChange(at=now, status=status, worker_id=worker_id, note=note[:_MAX_NOTE])
    return _evolve(request, status=status, updated_at=now, history=[*request.history, line], **changes)


def _held(request: Request, worker_id: str) -> Lease:
    """The lease `worker_id` holds on `request`, or LeaseLostError.

    A lease counts as held until another operation reaps it, even past its expiry: the parent-checked commit
    makes sure a reap and the holder's own update cannot both land.
    """
    lease = request.lease
    if request.status != RequestStatus.RUNNING or lease is None:
        raise LeaseLostError(
            f"worker {quote(worker_id)} does not hold request {request.request_id}: it is {request.status.value}"
        )
    if lease.worker_id != worker_id:
        raise LeaseLostError(
            f"worker {quote(worker_id)} does not hold request {request.request_id}: "
            f"worker {quote(lease.worker_id)} does"
        )
    return lease


def _require_status(request: Request, status: RequestStatus, action: str) -> None:
    if request.status != status:
        raise QueueError(
            f"request {request.request_id} is {request.status.value}; only a {status.value} request can be {action}"
        )


def claim_order(pending: Iterable[Request], running: Mapping[str, int]) -> list[Request]:
    """The order in which `pending` requests would be claimed if nothing else changed.

    Each claim goes to the submitter with the fewest running requests (counting the claims before it), ties
    broken by the oldest submission: one submitter's hundred requests cannot starve another's one.
    """
    queues: dict[str, list[Request]] = defaultdict(list)
    for request in pending:
        queues[submitter_key(request.submitter)].append(request)
    counts = Counter(running)
    heap = []
    for key, items in queues.items():
        items.sort(key=lambda r: (r.submitted_at, r.request_id), reverse=True)
        heap.append((counts[key], items[-1].submitted_at, items[-1].request_id, key))
    heapq.heapify(heap)
    order = []
    while heap:
        _, _, _, key = heapq.heappop(heap)
        order.append(queues[key].pop())
        counts[key] += 1
        if queues[key]:
            head = queues[key][-1]
            heapq.heappush(heap, (counts[key], head.submitted_at, head.request_id, key))
    return order


class RequestQueue:
    """Submit, claim and settle benchmark requests kept in a store.

    Args:
        store: where `requests/` and `outbox/` live.
        task_configs: the known tasks, by name; submissions and claims are limited to them.
        clock: returns the current time as an aware datetime (tests pass a controllable one).
        quota: submissions allowed per submitter per period.
        lease_s: how long a claim or heartbeat keeps a request, in seconds.
        max_attempts: claims a request may use up through expired leases before it fails.
        max_commit_retries: fresh reads and commits tried after a conflict before giving up.
    """

    def __init__(
        self,
        store: Store,
        task_configs: dict[str, TaskConfig],
        *,
        clock: Callable[[], datetime] = utc_now,
        quota: SubmissionQuota = SubmissionQuota(),
        lease_s: float = 600.0,
        max_attempts: int = 3,
        max_commit_retries: int = 20,
    ) -> None:
        if lease_s <= 0 or max_attempts < 1 or max_commit_retries < 0:
            raise ValueError("lease_s must be > 0, max_attempts >= 1 and max_commit_retries >= 0")
        self.store = store
        self.task_configs = dict(task_configs)
        self.clock = clock
        self.quota = quota
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.max_commit_retries = max_commit_retries
        self._warned: set[str] = set()

    # Reading

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the queue's clock must return timezone-aware datetimes")
        return now

    def _read(self) -> _Snapshot:
        """One read of the requests folder; a file deleted between listing and reading means read again."""
        for _ in range(self.max_commit_retries + 1):
            revision = self.store.revision()
            paths = self.store.list_files(REQUESTS_PREFIX)
            try:
                contents = self.store.read_files(paths)
            except FileNotInStoreError:
                continue
            return self._parse(revision, contents)
        raise TransientStoreError(f"{self.store}: request files kept vanishing while being read")

    def _parse(self, revision: str, contents: dict[str, bytes]) -> _Snapshot:
        requests: dict[str, Request] = {}
        invalid: list[RecordValidationError] = []
        invalid_by_id: dict[str, RecordValidationError] = {}
        for path in sorted(contents):
            try:
                request = _parse_request_file(path, contents[path])
            except RecordValidationError as error:
                invalid.append(error)
                invalid_by_id[path.rsplit("/", 1)[-1].removesuffix(".json")] = error
                self._warn_once(error)
                continue
            requests[request.request_id] = request
        return _Snapshot(revision, requests, invalid, invalid_by_id)

    def _warn_once(self, error: RecordValidationError) -> None:
        """Log each bad file once per queue, not on every poll of a worker loop."""
        if str(error) not in self._warned:
            self._warned.add(str(error))
            logger.warning("request queue: skipping %s", error)

    def list_requests(self, status: RequestStatus | None = None) -> list[Request]:
        """Valid requests, oldest submission first, optionally only those with `status`."""
        found = [r for r in self._read().requests.values() if status is None or r.status == status]
        return sorted(found, key=lambda r: (r.submitted_at, r.request_id))

    def invalid_records(self) -> list[RecordValidationError]:
        """The files under `requests/` that failed validation, sorted by path."""
        return self._read().invalid

    def get(self, request_id: str) -> Request:
        """One request; QueueError if it is unknown or its file is invalid."""
        return self._read().find(request_id)

    def position(self, request_id: str) -> int | None:
        """1-based place of a waiting request in claim order (`queue_positions`), None if it is not waiting.

        The order spans every pending request, whatever its task, and counts leases past expiry as reaped.
        """
        from leaderboard_data.queue_positions import queue_positions  # it builds on claim_order, defined here

        snapshot = self._read()
        snapshot.find(request_id)
        now = self._now()
        return queue_positions(snapshot.requests.values(), now, max_attempts=self.max_attempts).get(request_id)

    # Committing

    def _transact(self, plan: Callable[[_Snapshot, datetime], _Plan[T]]) -> T:
        """Read, decide, commit on top of what was read; after a conflict, start over from a fresh read."""
        for attempt in range(self.max_commit_retries + 1):
            snapshot = self._read()
            decided = plan(snapshot, self._now())
            if not decided.operations:
                return decided.value
            try:
                self.store.commit(decided.operations, parent_revision=snapshot.revision, message=decided.message)
            except ConflictError:
                time.sleep(random.uniform(0, min(_MAX_BACKOFF_S, 0.005 * 2**attempt)))
                continue
            return decided.value
        raise TransientStoreError(
            f"{self.store}: gave up after {self.max_commit_retries + 1} attempts because other writers kept "
            "committing first; try again"
        )

    def _update(self, request_id: str, change: Callable[[Request, datetime], Request], message: str) -> Request:
        """Commit one request's new state, decided by `change` from its current state."""

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[Request]:
            updated = change(snapshot.find(request_id), now)
            return _Plan(updated, [_write(updated)], f"{message} {request_id}")

        return self._transact(plan)

    # Submitting

    def submit(
        self,
        model_id: str,
        *,
        task: str,
        revision: str,
        precision: str,
        submitter: str,
        num_parameters: int | None = None,
    ) -> Request:
        """Queue a benchmark; SubmissionError (or its Duplicate/RateLimited kinds) says why one was refused."""
        validate_model_id(model_id)
        validate_revision(revision)
        validate_submitter(submitter)
        self._check_task(task)
        if not isinstance(precision, str) or precision not in PRECISIONS:
            shown = quote(precision) if isinstance(precision, str) else type(precision).__name__
            raise SubmissionError(f"precision {shown} is not one of {', '.join(PRECISIONS)}.")
        if num_parameters is not None and (
            isinstance(num_parameters, bool) or not isinstance(num_parameters, int) or num_parameters < 0
        ):
            raise SubmissionError(f"the parameter count must be a whole number of at least 0, not {num_parameters!r}.")
        key = _dedup_key(model_id, revision, task, precision)

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[Request]:
            self._check_duplicate(snapshot, key)
            self._check_quota(snapshot, submitter, now)
            request_id = secrets.token_hex(8)
            while request_id in snapshot.requests or request_id in snapshot.invalid_by_id:
                request_id = secrets.token_hex(8)
            request = Request(
                request_id=request_id,
                model_id=model_id,
                revision=revision,
                task=task,
                precision=precision,  # type: ignore[arg-type]  # checked against PRECISIONS above
                submitter=submitter,
                submitted_at=now,
                num_parameters=num_parameters,
                updated_at=now,
                history=[StatusChange(at=now, status=RequestStatus.PENDING, note=f"submitted by {submitter}")],
            )
            message = f"submit {request_id}: {model_id} {task} {precision}"
            return _Plan(request, [_write(request)], message)

        return self._transact(plan)

    def _check_task(self, task: object) -> None:
        if not isinstance(task, str) or task not in self.task_configs:
            shown = quote(task) if isinstance(task, str) else type(task).__name__
            raise SubmissionError(f"unknown task {shown}; known tasks: {', '.join(sorted(self.task_configs))}.")

    @staticmethod
    def _check_duplicate(snapshot: _Snapshot, key: tuple[str, str, str, str]) -> None:
        for request in snapshot.requests.values():
            if request.status in ACTIVE_STATUSES and _dedup_key(*request.dedup_key) == key:
                raise DuplicateRequestError(
                    f"{request.model_id} at revision {request.revision[:12]} on {request.task} in {request.precision} "
                    f"is already requested: request {request.request_id} is {request.status.value}.",
                    request.request_id,
                )

    def _check_quota(self, snapshot: _Snapshot, submitter: str, now: datetime) -> None:
        """Every submission in the period counts, whatever became of it, so cancelling does not refill a quota."""
        since = now - timedelta(seconds=self.quota.period_s)
        key = submitter_key(submitter)
        recent = sorted(
            r.submitted_at
            for r in snapshot.requests.values()
            if submitter_key(r.submitter) == key and r.submitted_at > since
        )
        if len(recent) < self.quota.max_requests:
            return
        frees_at = recent[len(recent) - self.quota.max_requests] + timedelta(seconds=self.quota.period_s)
        wait_s = max((frees_at - now).total_seconds(), 1.0)
        raise RateLimitedError(
            f"{quote(submitter)} has submitted {len(recent)} requests in the last "
            f"{duration_words(self.quota.period_s)}, the most allowed; try again in {duration_words(wait_s)}.",
            wait_s,
        )

    # Claiming and leases

    def _reaped(self, snapshot: _Snapshot, now: datetime) -> list[Request]:
        """Running requests whose lease expired, moved back to PENDING or, out of attempts, to FAILED."""
        reaped = []
        for request in snapshot.requests.values():
            lease = request.lease
            if request.status != RequestStatus.RUNNING or lease is None or lease.expires_at > now:
                continue
            expired = f"the lease of worker {lease.worker_id} expired at {lease.expires_at.isoformat()}"
            attempts = f"attempt {request.attempts} of {self.max_attempts}"
            if request.attempts >= self.max_attempts:
                message = f"{expired} on {attempts}; giving up"
                reaped.append(
                    _transition(
                        request,
                        now,
                        RequestStatus.FAILED,
                        worker_id=lease.worker_id,
                        note=message,
                        lease=None,
                        error_kind=ErrorKind.LEASE_EXPIRED,
                        error_message=message,
                    )
                )
            else:
                note = f"{expired} on {attempts}; back in the queue"
                reaped.append(
                    _transition(request, now, RequestStatus.PENDING, worker_id=lease.worker_id, note=note, lease=None)
                )
        return reaped

    def reap_expired(self) -> list[Request]:
        """Settle every expired lease in one commit; returns the requests it changed."""

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[list[Request]]:
            reaped = self._reaped(snapshot, now)
            return _Plan(reaped, [_write(r) for r in reaped], f"reap {len(reaped)} expired leases")

        return self._transact(plan)

    @staticmethod
    def _running_counts(requests: Iterable[Request]) -> Counter[str]:
        return Counter(submitter_key(r.submitter) for r in requests if r.status == RequestStatus.RUNNING)

    def _pending(self, requests: Iterable[Request], tasks: Collection[str] | None) -> list[Request]:
        wanted = self.task_configs.keys() if tasks is None else tasks
        return [r for r in requests if r.status == RequestStatus.PENDING and r.task in wanted]

    def claim(self, worker_id: str, *, tasks: Collection[str] | None = None) -> Request | None:
        """Take the next request (of `tasks`, default every known task) for `worker_id`, or None if none waits.

        Expired leases are reaped in the same commit, so their requests can be claimed at once.
        """
        if not worker_id or len(worker_id) > 200:
            raise QueueError(f"worker id {quote(worker_id)} must be 1 to 200 characters long")
        if tasks is not None and (unknown := sorted(set(tasks) - self.task_configs.keys())):
            raise QueueError(f"unknown tasks {unknown}; known tasks: {', '.join(sorted(self.task_configs))}")

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[Request | None]:
            reaped = self._reaped(snapshot, now)
            view = dict(snapshot.requests) | {r.request_id: r for r in reaped}
            order = claim_order(self._pending(view.values(), tasks), self._running_counts(view.values()))
            writes = [_write(r) for r in reaped]
            if not order:
                return _Plan(None, writes, f"reap {len(reaped)} expired leases")
            lease = Lease(worker_id=worker_id, expires_at=now + timedelta(seconds=self.lease_s), claimed_at=now)
            chosen = order[0]
            claimed = _transition(
                chosen,
                now,
                RequestStatus.RUNNING,
                worker_id=worker_id,
                note=f"claimed for attempt {chosen.attempts + 1}",
                lease=lease,
                attempts=chosen.attempts + 1,
            )
            message = f"claim {claimed.request_id} for {worker_id}" + (f", reap {len(reaped)}" if reaped else "")
            # A request reaped and claimed at once is written once, as claimed: two writes of one path in one
            # commit leave it to the store which one wins.
            writes = [w for w in writes if w.path != request_path(claimed.model_id, claimed.request_id)]
            return _Plan(claimed, [*writes, _write(claimed)], message)

        return self._transact(plan)

    def heartbeat(self, request_id: str, worker_id: str) -> Request:
        """Extend the lease to now + lease_s; LeaseLostError if `worker_id` no longer holds the request."""

        def change(request: Request, now: datetime) -> Request:
            lease = _held(request, worker_id)
            renewed = lease.model_copy(update={"expires_at": now + timedelta(seconds=self.lease_s)})
            return _evolve(request, lease=renewed, updated_at=now)

        return self._update(request_id, change, "heartbeat")

    def release(self, request_id: str, worker_id: str, note: str) -> Request:
        """Hand a held request back to the queue (e.g. on shutdown); the attempt it used is given back."""

        def change(request: Request, now: datetime) -> Request:
            _held(request, worker_id)
            return _transition(
                request,
                now,
                RequestStatus.PENDING,
                worker_id=worker_id,
                note=f"released: {note}",
                lease=None,
                attempts=max(0, request.attempts - 1),
            )

        return self._update(request_id, change, "release")

    # Settling

    def finish(self, request_id: str, worker_id: str, result: Result) -> Request:
        """Mark a held request FINISHED and put its result in the outbox, in one commit."""

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[Request]:
            request = snapshot.find(request_id)
            _held(request, worker_id)
            return _finish_plan(request, now, result, worker_id, f"result {result.result_id}")

        if result.request_id != request_id:
            raise QueueError(f"result {result.result_id} is for request {result.request_id}, not {request_id}")
        return self._transact(plan)

    def finish_recovered(self, result: Result) -> Request:
        """Settle a request with a result measured before its worker crashed or lost the store.

        Accepted while the request is PENDING, RUNNING (by anyone: the result is already measured) or FAILED
        because its lease expired; refused with QueueError once it is FINISHED or CANCELLED or failed for
        another reason, so a result is never published twice.
        """
        if result.request_id is None:
            raise QueueError(f"result {result.result_id} names no request to settle")
        request_id = result.request_id

        def plan(snapshot: _Snapshot, now: datetime) -> _Plan[Request]:
            request = snapshot.find(request_id)
            recoverable = request.status in (RequestStatus.PENDING, RequestStatus.RUNNING) or (
                request.status == RequestStatus.FAILED and request.error_kind == ErrorKind.LEASE_EXPIRED
            )
            if not recoverable:
                raise QueueError(
                    f"request {request_id} is {request.status.value}; result {result.result_id} not needed"
                )
            return _finish_plan(request, now, result, result.worker_id, f"recovered result {result.result_id}")

        return self._transact(plan)

    def fail(self, request_id: str, worker_id: str, kind: ErrorKind, message: str) -> Request:
        """Mark a held request FAILED with why; retrying is the caller's decision (submit again)."""
        text = _error_message(message)

        def change(request: Request, now: datetime) -> Request:
            _held(request, worker_id)
            return _failed(request, now, kind, text, worker_id)

        return self._update(request_id, change, "fail")

    def fail_unclaimed(self, request_id: str, kind: ErrorKind, message: str) -> Request:
        """Fail a PENDING request that is refused before any worker claims it (e.g. the model vanished)."""
        text = _error_message(message)

        def change(request: Request, now: datetime) -> Request:
            _require_status(request, RequestStatus.PENDING, "failed without a claim")
            return _failed(request, now, kind, text, None)

        return self._update(request_id, change, "fail")

    def cancel(self, request_id: str, by: str) -> Request:
        """Withdraw a PENDING request; running or settled ones cannot be cancelled."""

        def change(request: Request, now: datetime) -> Request:
            _require_status(request, RequestStatus.PENDING, "cancelled")
            return _transition(request, now, RequestStatus.CANCELLED, worker_id=None, note=f"cancelled by {by}")

        return self._update(request_id, change, "cancel")


def _finish_plan(request: Request, now: datetime, result: Result, worker_id: str, note: str) -> _Plan[Request]:
    """The request FINISHED and its result in the outbox: one commit, so neither exists without the other."""
    _check_result_fits(request, result)
    finished = _transition(
        request,
        now,
        RequestStatus.FINISHED,
        worker_id=worker_id,
        note=note,
        lease=None,
        error_kind=None,
        error_message=None,
        result_id=result.result_id,
    )
    outbox = AddFile(outbox_path(request.task, result.result_id), result.to_json().encode())
    return _Plan(finished, [_write(finished), outbox], f"finish {request.request_id} with {note}")


def _write(request: Request) -> AddFile:
    return AddFile(request_path(request.model_id, request.request_id), request.to_json().encode())


def _error_message(message: str) -> str:
    text = message.strip()
    if not text:
        raise QueueError("a failure needs a message saying what went wrong")
    return text[:_MAX_ERROR_MESSAGE]


def _failed(request: Request, now: datetime, kind: ErrorKind, message: str, worker_id: str | None) -> Request:
    return _transition(
        request,
        now,
        RequestStatus.FAILED,
        worker_id=worker_id,
        note=f"{kind.value}: {message}",
        lease=None,
        error_kind=kind,
        error_message=message,
    )


def _check_result_fits(request: Request, result: Result) -> None:
    """A result must describe the request it settles: same model, revision and task."""
    for name in ("model_id", "revision", "task"):
        if getattr(result, name) != getattr(request, name):
            raise QueueError(
                f"result {result.result_id} has {name} {getattr(result, name)!r}, but request {request.request_id} "
                f"has {getattr(request, name)!r}"
            )
