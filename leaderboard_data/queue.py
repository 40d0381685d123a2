"""The request queue: benchmark requests as JSON files in a store, changed only by parent-checked commits.

Layout (one `Request` record per file):
- `requests/<model_id>/<request_id>.json`: the live queue, PENDING and RUNNING requests;
- `archive/<shard>/<request_id>.json`: settled requests (FINISHED, FAILED, CANCELLED), moved there by the very
  commit that settles them, so the live folder, which every poll lists, does not grow with history. The shard is
  the first three hex digits of the id's sha256: 4,096 folders, so none nears the Hub's 10,000 entries per folder,
  and one settled request is read by its path, never by listing the archive. (Deployments from before the shards
  keep `archive/<YYYY-MM>/` files: a request not at its shard's path is looked for there.)
- `index/finished/<shard>/<key hash>.json`: one marker per finished (model, revision, task, precision), for
  duplicates, sharded like the archive (older deployments' flat `index/finished/<key hash>.json` are still read);
- `index/submitters/<name hash>.json`: each submitter's recent submissions, for quotas;
- `index/recent.json`: the last `RECENT_SETTLED` settled requests, rewritten by every commit that settles one, so
  the Space's Queue tab reads the live folder and this one file, never the archive;
- `outbox/<task>/<result_id>.json`: a finished request's result, written in the same commit as the FINISHED
  status, so a result is never published for a request that is not finished, nor a request finished without it.

Every operation reads the live folder (through `folder_cache`: one call when nothing changed, else a listing plus
the changed files), decides against what it read, and commits on top of the revision it read
(`stores.transact`). When another process committed in between, the commit fails with ConflictError and the
operation starts over from a fresh read, so two workers can never both hold one request. A file that fails
validation is logged and reported by `invalid_records()`; it is never rewritten, and only operations that
target it fail.

Commits are bounded by time rather than by work (docs/architecture.md, "Commit budget"): `submit_many` queues
a whole window of submissions in one commit; `finish_and_claim` settles a benchmark, claims the next one and
clears published results from the outbox in one commit; a lease lasts its task's timeout plus a margin, so a
heartbeat only reads.

Example:
    >>> queue = RequestQueue(LocalStore(tmp), load_task_configs())
    >>> request = queue.submit("org/model", task="text_classification", revision="0" * 40,
    ...                        precision="float32", submitter="alice")
    >>> claimed = queue.claim("worker-1")
    >>> queue.finish(claimed.request_id, "worker-1", result)
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import logging
import math
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from leaderboard_data.configs import PRECISIONS, TaskConfig
from leaderboard_data.errors import (
    DuplicateRequestError,
    FileNotInStoreError,
    LeaseLostError,
    QueueError,
    RateLimitedError,
    RecordValidationError,
    SubmissionError,
)
from leaderboard_data.folder_cache import folder_cache
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
from leaderboard_data.stores.base import AddFile, CommitOperation, DeleteFile, Store
from leaderboard_data.stores.transact import Plan, transact

logger = logging.getLogger(__name__)

REQUESTS_PREFIX = "requests/"
ARCHIVE_PREFIX = "archive/"
OUTBOX_PREFIX = "outbox/"
FINISHED_INDEX_PREFIX = "index/finished/"
SUBMITTERS_INDEX_PREFIX = "index/submitters/"
RECENT_PATH = "index/recent.json"
RECENT_SETTLED = 50
SETTLED_STATUSES = frozenset({RequestStatus.FINISHED, RequestStatus.FAILED, RequestStatus.CANCELLED})
DEFAULT_LEASE_MARGIN_S = 900.0
_LEDGER_KEEP_S = 7 * 86400.0
_MAX_NOTE = 2000
_MAX_ERROR_MESSAGE = 4000

T = TypeVar("T")


def request_path(model_id: str, request_id: str) -> str:
    """Where a request lives in the store."""
    return f"{REQUESTS_PREFIX}{model_id}/{request_id}.json"


def archive_path(request: Request) -> str:
    """Where a settled request lives (see the module docstring)."""
    return archived_request_path(request.request_id)


def archived_request_path(request_id: str) -> str:
    """Where the settled request `request_id` lives: known from its id alone, so reading it lists nothing."""
    return f"{ARCHIVE_PREFIX}{hashlib.sha256(request_id.encode()).hexdigest()[:3]}/{request_id}.json"


def finished_marker_path(model_id: str, revision: str, task: str, precision: str) -> str:
    """The marker saying a (model, revision, task, precision) has a finished request: what a duplicate checks."""
    digest = _marker_digest(model_id, revision, task, precision)
    return f"{FINISHED_INDEX_PREFIX}{digest[:3]}/{digest}.json"


def _legacy_marker_path(model_id: str, revision: str, task: str, precision: str) -> str:
    """Where deployments from before the shards keep a marker: one flat folder."""
    return f"{FINISHED_INDEX_PREFIX}{_marker_digest(model_id, revision, task, precision)}.json"


def _marker_digest(model_id: str, revision: str, task: str, precision: str) -> str:
    key = "\n".join(_dedup_key(model_id, revision, task, precision))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def submitter_ledger_path(submitter: str) -> str:
    """Where one submitter's recent submissions are counted (names hashed: they may hold any printable text)."""
    return f"{SUBMITTERS_INDEX_PREFIX}{hashlib.sha256(submitter_key(submitter).encode()).hexdigest()[:32]}.json"


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
    paths: dict[str, str] = field(default_factory=dict)  # request_id -> the file it was read from

    def find(self, request_id: str) -> Request:
        """The request, or QueueError if it is unknown or its file is invalid."""
        if request_id in self.invalid_by_id:
            error = self.invalid_by_id[request_id]
            raise QueueError(f"request {quote(request_id)} cannot be used: {error}")
        if request_id not in self.requests:
            raise QueueError(f"no request {quote(request_id)} in the queue")
        return self.requests[request_id]


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


def _parse_archive_file(path: str, content: bytes) -> Request:
    """Validate one archived request: settled, and filed under its own id."""
    if not path.endswith(".json") or path.count("/") != 2:
        raise RecordValidationError(path, "not an archived request: expected archive/<shard>/<request_id>.json")
    request = Request.from_json(content, path)
    if request.status not in SETTLED_STATUSES:
        raise RecordValidationError(path, f"an archived request must be settled, not {request.status.value}")
    if path.rsplit("/", 1)[-1] != f"{request.request_id}.json":
        raise RecordValidationError(path, f"the record belongs at {archive_path(request)}")
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
        store: where `requests/`, `archive/`, `index/` and `outbox/` live.
        task_configs: the known tasks, by name; submissions and claims are limited to them.
        clock: returns the current time as an aware datetime (tests pass a controllable one).
        quota: submissions allowed per submitter per period.
        lease_s: how long a claim keeps a request, in seconds; None (the default): the task's timeout plus
            `lease_margin_s`, so a benchmark never needs its lease renewed and a heartbeat only reads.
        lease_margin_s: what a lease outlives its task's timeout by: longer than the longest backoff a worker
            waits out on a rate-limited or unreachable store, so finishing in time never depends on it.
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
        lease_s: float | None = None,
        lease_margin_s: float = DEFAULT_LEASE_MARGIN_S,
        max_attempts: int = 3,
        max_commit_retries: int = 20,
    ) -> None:
        if (lease_s is not None and lease_s <= 0) or lease_margin_s < 0 or max_attempts < 1 or max_commit_retries < 0:
            raise ValueError("lease_s must be > 0, lease_margin_s >= 0, max_attempts >= 1 and max_commit_retries >= 0")
        self.store = store
        self.task_configs = dict(task_configs)
        self.clock = clock
        self.quota = quota
        self.lease_s = lease_s
        self.lease_margin_s = lease_margin_s
        self.max_attempts = max_attempts
        self.max_commit_retries = max_commit_retries
        self._warned: set[str] = set()
        self._live = folder_cache(store, REQUESTS_PREFIX, _parse_request_file)
        self._archive = folder_cache(store, ARCHIVE_PREFIX, _parse_archive_file)

    def lease_for(self, task: str) -> float:
        """Seconds a claim of a `task` request is leased for."""
        if self.lease_s is not None:
            return self.lease_s
        config = self.task_configs.get(task)
        return (config.timeout_s if config else 3600.0) + self.lease_margin_s

    # Reading

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the queue's clock must return timezone-aware datetimes")
        return now

    def _read(self) -> _Snapshot:
        """The live folder at the head: one call when nothing changed, else a listing plus the changed files."""
        revision = self.store.revision()
        return self._snapshot(revision, self._live.read(revision))

    def _read_archive(self) -> _Snapshot:
        """Settled requests; read only by listings and lookups of settled requests, never by a worker's poll."""
        revision = self.store.revision()
        return self._snapshot(revision, self._archive.read(revision))

    def _snapshot(self, revision: str, records: Mapping[str, Request | RecordValidationError]) -> _Snapshot:
        requests: dict[str, Request] = {}
        paths: dict[str, str] = {}
        invalid: list[RecordValidationError] = []
        invalid_by_id: dict[str, RecordValidationError] = {}
        for path in sorted(records):
            record = records[path]
            if isinstance(record, RecordValidationError):
                invalid.append(record)
                invalid_by_id[path.rsplit("/", 1)[-1].removesuffix(".json")] = record
                self._warn_once(record)
                continue
            requests[record.request_id] = record
            paths[record.request_id] = path
        return _Snapshot(revision, requests, invalid, invalid_by_id, paths)

    def _pin(self, snapshot: _Snapshot) -> str | None:
        """The revision a read beside `snapshot` is made at, so it decides on the same state: the snapshot's own
        on a store that keeps old revisions (the Hub, whose unpinned reads may be lagged), the head on a folder
        store, which keeps none (its reads are never lagged, and its commit is parent-checked all the same)."""
        return snapshot.revision if self.store.local_folder() is None else None

    def _warn_once(self, error: RecordValidationError) -> None:
        """Log each bad file once per queue, not on every poll of a worker loop."""
        if str(error) not in self._warned:
            self._warned.add(str(error))
            logger.warning("request queue: skipping %s", error)

    def _find(self, snapshot: _Snapshot, request_id: str) -> Request:
        """A request live in `snapshot`, else settled in the archive (read by its path: an error path)."""
        if request_id in snapshot.requests or request_id in snapshot.invalid_by_id:
            return snapshot.find(request_id)
        return self._archived(snapshot, request_id)[0]

    def _archived(self, snapshot: _Snapshot, request_id: str) -> tuple[Request, str]:
        """A settled request and its path, read at `snapshot`'s revision from the path its id gives; only a request
        archived before the shards (or an unknown id) costs a listing of the archive."""
        path = archived_request_path(request_id)
        try:
            content = self.store.read_file(path, self._pin(snapshot))
        except FileNotInStoreError:
            archived = self._read_archive()
            return archived.find(request_id), archived.paths[request_id]
        try:
            return _parse_archive_file(path, content), path
        except RecordValidationError as error:
            raise QueueError(f"request {quote(request_id)} cannot be used: {error}") from error

    def _everything(self) -> tuple[_Snapshot, _Snapshot]:
        return self._read(), self._read_archive()

    def list_requests(self, status: RequestStatus | None = None, *, include_settled: bool = True) -> list[Request]:
        """Valid requests, oldest submission first, optionally only those with `status`.

        Settled requests come from the archive; `include_settled=False` (or a live `status`) leaves it unread.
        """
        found: list[Request] = []
        if include_settled and (status is None or status in SETTLED_STATUSES):
            found += self._read_archive().requests.values()
        found += self._read().requests.values()  # after the archive: a live copy wins
        found = [r for r in found if status is None or r.status == status]
        return sorted({r.request_id: r for r in found}.values(), key=lambda r: (r.submitted_at, r.request_id))

    def recent_settled(self) -> list[Request]:
        """The last settled requests (at most RECENT_SETTLED), newest first: one file, whatever the archive holds."""
        return _recent(self.store, None)

    def invalid_records(self) -> list[RecordValidationError]:
        """The files under `requests/` and `archive/` that failed validation, sorted by path."""
        live, archive = self._everything()
        return sorted([*live.invalid, *archive.invalid], key=lambda e: e.path)

    def get(self, request_id: str) -> Request:
        """One request, live or settled; QueueError if it is unknown or its file is invalid."""
        return self._find(self._read(), request_id)

    def position(self, request_id: str) -> int | None:
        """1-based place of a waiting request in claim order (`queue_positions`), None if it is not waiting.

        The order spans every pending request, whatever its task, and counts leases past expiry as reaped.
        """
        from leaderboard_data.queue_positions import queue_positions  # it builds on claim_order, defined here

        snapshot = self._read()
        if request_id not in snapshot.requests and request_id not in snapshot.invalid_by_id:
            self._find(snapshot, request_id)
            return None
        snapshot.find(request_id)
        now = self._now()
        return queue_positions(snapshot.requests.values(), now, max_attempts=self.max_attempts).get(request_id)

    # Committing

    def _transact(self, plan: Callable[[_Snapshot, datetime], Plan[T]]) -> T:
        """Read, decide, commit on top of what was read; after a conflict, a jittered pause and a fresh read.

        The caches take in the committed operations, so the next read costs one call if nobody else committed.
        """

        def step() -> tuple[str, Plan[T]]:
            snapshot = self._read()
            decided = plan(snapshot, self._now())
            operations = _deduplicated(decided.operations)
            settled = [
                Request.from_json(op.content, op.path)
                for op in operations
                if isinstance(op, AddFile) and op.path.startswith(ARCHIVE_PREFIX)
            ]
            if settled:
                recent = _recent(self.store, self._pin(snapshot))
                operations.append(_recent_write([*settled, *recent]))

            def landed(revision: str) -> None:
                self._live.landed(snapshot.revision, revision, operations)
                self._archive.landed(snapshot.revision, revision, operations)

            return snapshot.revision, Plan(decided.value, operations, decided.message, landed)

        return transact(self.store, step, what="update the request queue", max_attempts=self.max_commit_retries + 1)

    def _update(self, request_id: str, change: Callable[[Request, datetime], Request], message: str) -> Request:
        """Commit one request's new state, decided by `change` from its current state."""

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[Request]:
            updated = change(self._find(snapshot, request_id), now)
            return Plan(updated, _writes(snapshot, updated), f"{message} {request_id}")

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
        item = Submission(model_id, task, revision, precision, submitter, num_parameters)
        [outcome] = self.submit_many([item])
        if isinstance(outcome, SubmissionError):
            raise outcome
        return outcome

    def submit_many(self, items: Sequence[Submission]) -> list[Request | SubmissionError]:
        """Queue several submissions in ONE commit; each gets its Request, or the SubmissionError refusing it.

        This is how a window of submissions costs the requests repository one commit (`SubmissionBatcher`).
        Duplicates and quotas count the other submissions of the same batch.
        """
        checked: list[Submission | SubmissionError] = []
        for item in items:
            try:
                checked.append(self._validated(item))
            except SubmissionError as error:
                checked.append(error)
        if not any(isinstance(c, Submission) for c in checked):
            return list(checked)  # type: ignore[arg-type]  # every one is an error

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[list[Request | SubmissionError]]:
            outcomes: list[Request | SubmissionError] = []
            accepted: list[Request] = []
            ledgers: dict[str, list[dict[str, str]]] = {}
            taken = set(snapshot.requests) | set(snapshot.invalid_by_id)
            for item in checked:
                if isinstance(item, SubmissionError):
                    outcomes.append(item)
                    continue
                try:
                    self._check_duplicate(snapshot, accepted, item)
                    ledger = ledgers.get(submitter_key(item.submitter))
                    if ledger is None:
                        ledger = self._ledger(item.submitter, snapshot, now)
                        ledgers[submitter_key(item.submitter)] = ledger
                    self._check_quota(item.submitter, ledger, now)
                except SubmissionError as error:
                    outcomes.append(error)
                    continue
                request_id = secrets.token_hex(8)
                while request_id in taken:
                    request_id = secrets.token_hex(8)
                taken.add(request_id)
                request = Request(
                    request_id=request_id,
                    model_id=item.model_id,
                    revision=item.revision,
                    task=item.task,
                    precision=item.precision,  # type: ignore[arg-type]  # checked against PRECISIONS
                    submitter=item.submitter,
                    submitted_at=now,
                    num_parameters=item.num_parameters,
                    updated_at=now,
                    history=[StatusChange(at=now, status=RequestStatus.PENDING, note=f"submitted by {item.submitter}")],
                )
                ledger.append({"request_id": request_id, "at": now.isoformat()})
                accepted.append(request)
                outcomes.append(request)
            if not accepted:
                return Plan(outcomes)
            operations: list[CommitOperation] = [_live_write(r) for r in accepted]
            for submitter in {submitter_key(r.submitter) for r in accepted}:
                name = next(r.submitter for r in accepted if submitter_key(r.submitter) == submitter)
                content = json.dumps({"submitter": submitter, "submissions": ledgers[submitter]}, indent=1)
                operations.append(AddFile(submitter_ledger_path(name), content.encode()))
            first = accepted[0]
            message = f"submit {first.request_id}: {first.model_id} {first.task} {first.precision}"
            if len(accepted) > 1:
                message = f"submit {len(accepted)} requests: " + ", ".join(r.request_id for r in accepted[:10])
            return Plan(outcomes, operations, message)

        return self._transact(plan)

    def _validated(self, item: Submission) -> Submission:
        validate_model_id(item.model_id)
        validate_revision(item.revision)
        validate_submitter(item.submitter)
        self._check_task(item.task)
        precision = item.precision
        if not isinstance(precision, str) or precision not in PRECISIONS:
            shown = quote(precision) if isinstance(precision, str) else type(precision).__name__
            raise SubmissionError(f"precision {shown} is not one of {', '.join(PRECISIONS)}.")
        count = item.num_parameters
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise SubmissionError(f"the parameter count must be a whole number of at least 0, not {count!r}.")
        return item

    def _check_task(self, task: object) -> None:
        if not isinstance(task, str) or task not in self.task_configs:
            shown = quote(task) if isinstance(task, str) else type(task).__name__
            raise SubmissionError(f"unknown task {shown}; known tasks: {', '.join(sorted(self.task_configs))}.")

    def _check_duplicate(self, snapshot: _Snapshot, accepted: Sequence[Request], item: Submission) -> None:
        """Refuse a submission whose (model, revision, task, precision) is pending, running or finished."""
        key = _dedup_key(item.model_id, item.revision, item.task, item.precision)
        for request in [*snapshot.requests.values(), *accepted]:
            if request.status in ACTIVE_STATUSES and _dedup_key(*request.dedup_key) == key:
                raise DuplicateRequestError(
                    f"{request.model_id} at revision {request.revision[:12]} on {request.task} in {request.precision} "
                    f"is already requested: request {request.request_id} is {request.status.value}.",
                    request.request_id,
                )
        marker = self._finished_marker(snapshot, *key)
        if marker is None:
            return
        raise DuplicateRequestError(
            f"{item.model_id} at revision {item.revision[:12]} on {item.task} in {item.precision} "
            f"is already requested: request {marker['request_id']} is FINISHED.",
            str(marker["request_id"]),
        )

    def _finished_marker(
        self, snapshot: _Snapshot, model_id: str, revision: str, task: str, precision: str
    ) -> dict[str, Any] | None:
        """The finished marker of a (model, revision, task, precision) at `snapshot`, None if there is none."""
        for path in (
            finished_marker_path(model_id, revision, task, precision),
            _legacy_marker_path(model_id, revision, task, precision),
        ):
            try:
                marker: dict[str, Any] = json.loads(self.store.read_file(path, self._pin(snapshot)))
            except FileNotInStoreError:
                continue
            return marker
        return None

    def _ledger(self, submitter: str, snapshot: _Snapshot, now: datetime) -> list[dict[str, str]]:
        """The submitter's submissions of the last days: the ledger file, plus live requests it may predate."""
        keep_since = now - timedelta(seconds=max(self.quota.period_s, _LEDGER_KEEP_S))
        try:
            entries = json.loads(self.store.read_file(submitter_ledger_path(submitter), self._pin(snapshot)))[
                "submissions"
            ]
        except FileNotInStoreError:
            entries = []
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "request queue: unreadable quota ledger of %s, counting live requests only: %s", submitter, exc
            )
            entries = []
        known = {e.get("request_id") for e in entries}
        key = submitter_key(submitter)
        entries += [
            {"request_id": r.request_id, "at": r.submitted_at.isoformat()}
            for r in snapshot.requests.values()
            if submitter_key(r.submitter) == key and r.request_id not in known
        ]
        return [e for e in entries if datetime.fromisoformat(e["at"]) > keep_since]

    def _check_quota(self, submitter: str, ledger: Sequence[Mapping[str, str]], now: datetime) -> None:
        """Every submission in the period counts, whatever became of it, so cancelling does not refill a quota."""
        since = now - timedelta(seconds=self.quota.period_s)
        recent = sorted(t for t in (datetime.fromisoformat(e["at"]) for e in ledger) if t > since)
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

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[list[Request]]:
            reaped = self._reaped(snapshot, now)
            writes = [op for r in reaped for op in _writes(snapshot, r)]
            return Plan(reaped, writes, f"reap {len(reaped)} expired leases")

        return self._transact(plan)

    @staticmethod
    def _running_counts(requests: Iterable[Request]) -> Counter[str]:
        return Counter(submitter_key(r.submitter) for r in requests if r.status == RequestStatus.RUNNING)

    def _pending(
        self, requests: Iterable[Request], tasks: Collection[str] | None, now: datetime | None = None
    ) -> list[Request]:
        """PENDING requests of `tasks`; with `now`, only those not waiting out an infrastructure backoff."""
        wanted = self.task_configs.keys() if tasks is None else tasks
        return [
            r
            for r in requests
            if r.status == RequestStatus.PENDING
            and r.task in wanted
            and (now is None or r.not_before is None or r.not_before <= now)
        ]

    def _check_claim_args(self, worker_id: str, tasks: Collection[str] | None) -> None:
        if not worker_id or len(worker_id) > 200:
            raise QueueError(f"worker id {quote(worker_id)} must be 1 to 200 characters long")
        if tasks is not None and (unknown := sorted(set(tasks) - self.task_configs.keys())):
            raise QueueError(f"unknown tasks {unknown}; known tasks: {', '.join(sorted(self.task_configs))}")

    def _claim_plan(
        self,
        snapshot: _Snapshot,
        view: dict[str, Request],
        now: datetime,
        worker_id: str,
        tasks: Collection[str] | None,
        count: int = 1,
    ) -> tuple[list[Request], list[CommitOperation], str]:
        """Reap expired leases in `view` and take up to `count` requests in claim order: (claimed, writes,
        message). Each claim counts the ones before it, so fair shares hold within one commit too."""
        reaped = self._reaped(_Snapshot(snapshot.revision, view, []), now)
        view = view | {r.request_id: r for r in reaped}
        writes = [op for r in reaped for op in _writes(snapshot, r)]
        claimed: list[Request] = []
        for _ in range(count):
            order = claim_order(self._pending(view.values(), tasks, now), self._running_counts(view.values()))
            if not order:
                break
            chosen = order[0]
            expires = now + timedelta(seconds=self.lease_for(chosen.task))
            taken = _transition(
                chosen,
                now,
                RequestStatus.RUNNING,
                worker_id=worker_id,
                note=f"claimed for attempt {chosen.attempts + 1}",
                lease=Lease(worker_id=worker_id, expires_at=expires, claimed_at=now),
                attempts=chosen.attempts + 1,
            )
            view[taken.request_id] = taken
            claimed.append(taken)
            # A request reaped and claimed at once is written once, as claimed (`_deduplicated` keeps the last).
            writes += _writes(snapshot, taken)
        parts = [f"claim {', '.join(r.request_id for r in claimed)} for {worker_id}"] if claimed else []
        parts += [f"reap {len(reaped)} expired leases"] if reaped else []
        return claimed, writes, ", ".join(parts)

    def claim(
        self, worker_id: str, *, tasks: Collection[str] | None = None, clear_outbox: Collection[str] = ()
    ) -> Request | None:
        """Take the next request (of `tasks`, default every known task) for `worker_id`, or None if none waits.

        Expired leases are reaped in the same commit, so their requests can be claimed at once; `clear_outbox`
        names published outbox files to delete in that commit too. Nothing to claim and nothing to reap commits
        nothing, whatever `clear_outbox` holds: an idle poll never writes.
        """
        claimed = self.claim_many(worker_id, 1, tasks=tasks, clear_outbox=clear_outbox)
        return claimed[0] if claimed else None

    def claim_many(
        self,
        worker_id: str,
        count: int,
        *,
        tasks: Collection[str] | None = None,
        clear_outbox: Collection[str] = (),
    ) -> list[Request]:
        """Take up to `count` requests in ONE commit: a worker with several free slots (GPUs) fills them at once."""
        self._check_claim_args(worker_id, tasks)
        if count < 1:
            raise QueueError(f"a claim takes at least one request, not {count}")

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[list[Request]]:
            claimed, writes, message = self._claim_plan(snapshot, dict(snapshot.requests), now, worker_id, tasks, count)
            if writes:
                writes += self._outbox_deletes(clear_outbox)
            return Plan(claimed, writes, message)

        return self._transact(plan)

    def claimable(self, *, tasks: Collection[str] | None = None) -> int:
        """How many requests a claim could take now (waiting ones, and expired leases the claim would reap).

        Only reads (one call when nothing changed): a worker holding a finished result asks this before
        committing, so that its finish can carry its next claim (`finish_and_claim`).
        """
        snapshot = self._read()
        now = self._now()
        view = dict(snapshot.requests) | {r.request_id: r for r in self._reaped(snapshot, now)}
        return len(self._pending(view.values(), tasks, now))

    def _outbox_deletes(self, paths: Collection[str]) -> list[CommitOperation]:
        """Deletes of the given outbox files that are still there (another worker may have cleared them)."""
        if not paths:
            return []
        present = set(self.store.list_files(OUTBOX_PREFIX))
        return [DeleteFile(p) for p in sorted(paths) if p in present and p.startswith(OUTBOX_PREFIX)]

    def clear_outbox(self, paths: Collection[str]) -> int:
        """Delete published outbox files in a commit of their own (a worker folds them into its next claim
        instead, and calls this only when it has been idle a while); returns how many were deleted."""

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[int]:
            deletes = self._outbox_deletes(paths)
            return Plan(len(deletes), deletes, f"Clear {len(deletes)} published result(s) from outbox")

        return self._transact(plan)

    def heartbeat(self, request_id: str, worker_id: str) -> Request:
        """Check `worker_id` still holds the request; LeaseLostError if not.

        The lease is renewed (a commit) only once less than half of it is left: a lease lasts its task's timeout
        plus a margin, so a benchmark that ends within half of that never commits for liveness, and a heartbeat
        costs one read when nothing changed.
        """

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[Request]:
            request = self._find(snapshot, request_id)
            lease = _held(request, worker_id)
            length = self.lease_for(request.task)
            if lease.expires_at - now > timedelta(seconds=length / 2):
                return Plan(request)
            renewed = lease.model_copy(update={"expires_at": now + timedelta(seconds=length)})
            updated = _evolve(request, lease=renewed, updated_at=now)
            return Plan(updated, _writes(snapshot, updated), f"heartbeat {request_id}")

        return self._transact(plan)

    def release(self, request_id: str, worker_id: str, note: str, *, retry_in_s: float | None = None) -> Request:
        """Hand a held request back to the queue (e.g. on shutdown); the attempt it used is given back.

        With `retry_in_s` the release is for a failure that was not the model's fault (the store, the network,
        the task's dataset, a busy machine): no worker claims it again for that many seconds, and the request
        counts one more infrastructure failure, which the releasing worker uses to lengthen the next pause.
        """
        if retry_in_s is not None and not (0 <= retry_in_s < 30 * 86400):
            raise QueueError(f"retry_in_s must be between 0 and 30 days, not {retry_in_s!r}")

        def change(request: Request, now: datetime) -> Request:
            _held(request, worker_id)
            extra: dict[str, Any] = {}
            if retry_in_s is not None:
                extra = {
                    "not_before": now + timedelta(seconds=retry_in_s),
                    "infrastructure_failures": request.infrastructure_failures + 1,
                }
            return _transition(
                request,
                now,
                RequestStatus.PENDING,
                worker_id=worker_id,
                note=f"released: {note}",
                lease=None,
                attempts=max(0, request.attempts - 1),
                **extra,
            )

        return self._update(request_id, change, "release")

    def release_own(self, worker_id: str, note: str) -> list[Request]:
        """Hand back every request `worker_id` holds, in one commit: a worker restarted under the same id after
        a crash gives its requests back at once instead of leaving them to their leases' expiry."""

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[list[Request]]:
            held = [
                r
                for r in snapshot.requests.values()
                if r.status == RequestStatus.RUNNING and r.lease is not None and r.lease.worker_id == worker_id
            ]
            released = [
                _transition(
                    r,
                    now,
                    RequestStatus.PENDING,
                    worker_id=worker_id,
                    note=f"released: {note}",
                    lease=None,
                    attempts=max(0, r.attempts - 1),
                )
                for r in held
            ]
            writes = [op for r in released for op in _writes(snapshot, r)]
            return Plan(released, writes, f"release {len(released)} requests of restarted worker {worker_id}")

        return self._transact(plan)

    # Settling

    def finish(self, request_id: str, worker_id: str, result: Result) -> Request:
        """Mark a held request FINISHED and put its result in the outbox, in one commit."""
        finished, _ = self.finish_and_claim(request_id, worker_id, result, claim_count=0)
        return finished

    def finish_and_claim(
        self,
        request_id: str,
        worker_id: str,
        result: Result,
        *,
        claim_count: int = 1,
        tasks: Collection[str] | None = None,
        clear_outbox: Collection[str] = (),
    ) -> tuple[Request, list[Request]]:
        """Finish a held request and claim up to `claim_count` next ones in ONE commit: (finished, claimed).

        `clear_outbox` names published outbox files to delete in the same commit. This is the worker's one
        commit per benchmarked model (docs/architecture.md, "Commit budget").
        """
        if result.request_id != request_id:
            raise QueueError(f"result {result.result_id} is for request {result.request_id}, not {request_id}")
        self._check_claim_args(worker_id, tasks)

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[tuple[Request, list[Request]]]:
            request = self._find(snapshot, request_id)
            _held(request, worker_id)
            finished, writes = _finish_plan(snapshot, request, now, result, worker_id, f"result {result.result_id}")
            message = f"finish {request_id} with result {result.result_id}"
            claimed: list[Request] = []
            if claim_count > 0:
                view = dict(snapshot.requests) | {request_id: finished}
                claimed, claim_writes, claim_message = self._claim_plan(
                    snapshot, view, now, worker_id, tasks, claim_count
                )
                writes += claim_writes
                message += f", {claim_message}" if claim_message else ""
            writes += self._outbox_deletes(clear_outbox)
            return Plan((finished, claimed), writes, message)

        return self._transact(plan)

    def finish_recovered(self, result: Result) -> Request:
        """Settle a request with a result measured before its worker crashed or lost the store.

        Accepted while the request is PENDING, RUNNING (by anyone: the result is already measured) or FAILED (its
        lease expired, or its worker could not commit the result and failed it: a measured result is never
        thrown away for a failed commit); refused with QueueError once it is FINISHED or CANCELLED, or when
        another request for the same model, revision, task and precision has finished, so a result is never
        published twice.
        """
        if result.request_id is None:
            raise QueueError(f"result {result.result_id} names no request to settle")
        request_id = result.request_id

        def plan(snapshot: _Snapshot, now: datetime) -> Plan[Request]:
            if request_id not in snapshot.requests and request_id not in snapshot.invalid_by_id:
                request, path = self._archived(snapshot, request_id)
                snapshot = dataclasses.replace(snapshot, paths={request_id: path})
            else:
                request = snapshot.find(request_id)
            if request.status not in (RequestStatus.PENDING, RequestStatus.RUNNING, RequestStatus.FAILED):
                raise QueueError(
                    f"request {request_id} is {request.status.value}; result {result.result_id} not needed"
                )
            if request.status == RequestStatus.FAILED:
                self._check_not_finished_elsewhere(snapshot, request, result)
            note = f"recovered result {result.result_id}"
            finished, writes = _finish_plan(snapshot, request, now, result, result.worker_id, note)
            return Plan(finished, writes, f"finish {request_id} with {note}")

        return self._transact(plan)

    def _check_not_finished_elsewhere(self, snapshot: _Snapshot, request: Request, result: Result) -> None:
        """A failed request may have been submitted again and finished since: then its result is not needed."""
        marker = self._finished_marker(snapshot, *request.dedup_key)
        if marker is None:
            return
        raise QueueError(
            f"request {marker['request_id']} already finished {request.model_id} on {request.task}; "
            f"result {result.result_id} not needed"
        )

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


@dataclass(frozen=True)
class Submission:
    """One model to queue, as `submit_many` takes it."""

    model_id: str
    task: str
    revision: str
    precision: str
    submitter: str
    num_parameters: int | None = None


def _finish_plan(
    snapshot: _Snapshot, request: Request, now: datetime, result: Result, worker_id: str, note: str
) -> tuple[Request, list[CommitOperation]]:
    """The request FINISHED (archived, with its marker) and its result in the outbox: one commit."""
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
    return finished, [*_writes(snapshot, finished), outbox]


def _recent(store: Store, revision: str | None) -> list[Request]:
    """The recent-settled summary at `revision`; empty when absent or unreadable (it is rebuilt as requests
    settle, and nothing depends on it but the Queue tab)."""
    try:
        items = json.loads(store.read_file(RECENT_PATH, revision))
        return [Request.model_validate(item) for item in items]
    except FileNotInStoreError:
        return []
    except (ValueError, TypeError) as exc:
        logger.warning("request queue: unreadable %s, starting it again: %s", RECENT_PATH, exc)
        return []


def _recent_write(requests: Iterable[Request]) -> AddFile:
    """The summary of the newest RECENT_SETTLED settled requests, each once."""
    newest = sorted({r.request_id: r for r in reversed(list(requests))}.values(), key=lambda r: r.updated_at)
    kept = [r.model_dump(mode="json") for r in reversed(newest[-RECENT_SETTLED:])]
    return AddFile(RECENT_PATH, json.dumps(kept, separators=(",", ":")).encode())


def _live_write(request: Request) -> AddFile:
    return AddFile(request_path(request.model_id, request.request_id), request.to_json().encode())


def _writes(snapshot: _Snapshot, request: Request) -> list[CommitOperation]:
    """The operations that store `request`: live while it is PENDING or RUNNING; once settled it moves to the
    archive (in the same commit), and a finished one leaves the marker that duplicates are checked against."""
    if request.status not in SETTLED_STATUSES:
        return [_live_write(request)]
    target = archive_path(request)
    operations: list[CommitOperation] = [AddFile(target, request.to_json().encode())]
    old = snapshot.paths.get(request.request_id)
    if old is not None and old != target:
        operations.append(DeleteFile(old))
    if request.status == RequestStatus.FINISHED:
        marker = {"request_id": request.request_id, "model_id": request.model_id, "result_id": request.result_id}
        path = finished_marker_path(request.model_id, request.revision, request.task, request.precision)
        operations.append(AddFile(path, json.dumps(marker, sort_keys=True).encode()))
    return operations


def _deduplicated(operations: Sequence[CommitOperation]) -> list[CommitOperation]:
    """One operation per path, the last one winning: two writes of one path in one commit leave it to the store
    which one lands."""
    by_path: dict[str, CommitOperation] = {}
    for op in operations:
        by_path.pop(op.path, None)
        by_path[op.path] = op
    return list(by_path.values())


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
