"""The one submission path shared by the CLI and the Space: check the model, then queue it.

Checks run before anything is written: the id is well-formed, the model exists and its revision resolves to a
pinned commit, it is public, loads without remote code, has safetensors weights, fits the task, and has a known
parameter count. The queue then refuses duplicates and submitters over their quota.

On a Hub deployment submissions are gathered for a short window (`SubmissionBatcher`, default 10 minutes, set by
`ENERGY_SCORE_SUBMIT_WINDOW_S`) and queued in one commit: the requests repository's commit budget then does not
grow with the number of submitters. Each submitter gets the receipt once that commit has landed, so a receipt
always names a request that is really queued.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, field

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import StoreError, SubmissionError
from leaderboard_data.model_checks import CheckedModel, check_model, suggest_task
from leaderboard_data.model_ids import validate_model_id
from leaderboard_data.queue import RequestQueue, Submission, SubmissionQuota
from leaderboard_data.records import Request
from leaderboard_data.stores import Store, Stores

WINDOW_ENV = "ENERGY_SCORE_SUBMIT_WINDOW_S"
HUB_WINDOW_S = 600.0


@dataclass(frozen=True)
class SubmissionReceipt:
    """What a submitter is told: the queued request, its place in the queue and what was learnt of the model."""

    request: Request
    position: int | None
    checked: CheckedModel
    task_suggested: bool = False
    """True when the submitter named no task and it was told from the model's pipeline tag or architecture."""


@dataclass
class _Batch:
    items: list[Submission] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Request | SubmissionError] = field(default_factory=list)
    error: Exception | None = None


class SubmissionBatcher:
    """Gathers the submissions that arrive within `window_s` and queues them in one commit.

    The first submission of a window waits out the window (or until `max_batch` have gathered), then commits
    the whole batch through `RequestQueue.submit_many`; every caller blocks until that commit has landed and
    gets its own Request, or the error refusing it. A window of 0 commits each submission at once. Safe to call
    from many threads (the Space serves each submitter on its own thread).

    Example:
        >>> batcher = SubmissionBatcher(RequestQueue(store, configs), window_s=300)
        >>> request = batcher.submit(Submission("org/model", "text_classification", sha, "float16", "alice"))
    """

    def __init__(self, queue: RequestQueue, *, window_s: float = HUB_WINDOW_S, max_batch: int = 100) -> None:
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must be >= 0 and max_batch >= 1")
        self.queue = queue
        self.window_s = window_s
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._open: _Batch | None = None

    def submit(self, item: Submission) -> Request:
        """Queue `item` with the others of its window; returns once the commit landed, or raises its refusal."""
        with self._lock:
            batch = self._open
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            index = len(batch.items)
            batch.items.append(item)
            if len(batch.items) >= self.max_batch:
                self._open = None
                batch.full.set()
        if leader:
            batch.full.wait(self.window_s)
            with self._lock:
                if self._open is batch:
                    self._open = None
            try:
                batch.outcomes = self.queue.submit_many(batch.items)
            except Exception as exc:  # a store failure refuses the whole batch: nobody gets a receipt
                batch.error = exc
            finally:
                batch.done.set()
        else:
            batch.done.wait()
        if batch.error is not None:
            if isinstance(batch.error, StoreError | SubmissionError):
                raise batch.error
            raise StoreError(f"the submission could not be queued: {batch.error}") from batch.error
        outcome = batch.outcomes[index]
        if isinstance(outcome, SubmissionError):
            raise outcome
        return outcome


_BATCHERS: weakref.WeakKeyDictionary[Store, dict[SubmissionQuota, SubmissionBatcher]] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def submission_window_s(stores: Stores) -> float:
    """`ENERGY_SCORE_SUBMIT_WINDOW_S` if set, else 10 minutes on the Hub and none on a local store."""
    configured = os.environ.get(WINDOW_ENV)
    if configured:
        return float(configured)
    return HUB_WINDOW_S if stores.is_hub else 0.0


def shared_batcher(stores: Stores, task_configs: dict[str, TaskConfig], quota: SubmissionQuota) -> SubmissionBatcher:
    """The batcher every submission on this requests store (and quota) goes through in this process."""
    with _BATCHERS_LOCK:
        by_quota = _BATCHERS.setdefault(stores.requests, {})
        if quota not in by_quota:
            queue = RequestQueue(stores.requests, task_configs, quota=quota)
            by_quota[quota] = SubmissionBatcher(queue, window_s=submission_window_s(stores))
        return by_quota[quota]


def default_precision(task_config: TaskConfig, stores: Stores) -> str:
    """The task's precision on the device the deployment benchmarks on: the reference GPU on the Hub, else CPU."""
    return task_config.precision.for_device("cuda" if stores.is_hub else "cpu")


def submit_model(
    stores: Stores,
    task_configs: dict[str, TaskConfig],
    model_id: str,
    *,
    task: str | None,
    revision: str | None,
    precision: str | None,
    submitter: str,
    quota: SubmissionQuota | None = None,
    batcher: SubmissionBatcher | None = None,
) -> SubmissionReceipt:
    """Validate and queue one model for one task; raises a SubmissionError subclass with a readable reason.

    Without a task (None or ""), the task is suggested from the model's Hub pipeline tag or architecture.
    The submission is queued through `batcher` (default: this process's shared one for the store), so the call
    returns once the commit holding it has landed: at most the submission window later.
    """
    model_id = validate_model_id(model_id)
    if task and task not in task_configs:
        raise SubmissionError(f"unknown task {task[:64]!r}; choose one of: {', '.join(sorted(task_configs))}")
    info = stores.models.info(model_id, revision)
    task_suggested = not task
    task = task or suggest_task(info, task_configs)
    task_config = task_configs[task]
    checked = check_model(info, task_config)
    batcher = batcher or shared_batcher(stores, task_configs, quota or SubmissionQuota())
    item = Submission(
        model_id,
        task,
        info.sha,
        precision or default_precision(task_config, stores),
        submitter,
        checked.num_parameters,
    )
    request = batcher.submit(item)
    position = batcher.queue.position(request.request_id)
    return SubmissionReceipt(request=request, position=position, checked=checked, task_suggested=task_suggested)
