"""Read, decide, commit: the one loop every writer of a store goes through.

A writer reads the store, decides what to write from what it read, and commits on top of the revision it read.
When another writer committed in between, the store answers ConflictError and nothing was applied: the loop
waits a jittered, growing pause (so writers that collided do not collide again in lockstep) and starts over from
a fresh read. Conflicts, backoff and giving up live here and nowhere else; the queue and the results publisher
only say how to read and what to decide.

Example:
    >>> def step() -> tuple[str, Plan[int]]:
    ...     head = store.revision()
    ...     count = len(store.list_files("requests/"))
    ...     return head, Plan(count + 1, [AddFile("count.txt", str(count).encode())], "count requests")
    >>> transact(store, step, what="count requests")
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from leaderboard_data.errors import ConflictError, StoreError, TransientStoreError
from leaderboard_data.stores.base import CommitOperation, Store

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Plan(Generic[T]):
    """What one read decided: the operations to commit (none: nothing to write) and the value to return.

    `landed`, when given, is called with the new revision once the commit is applied, so a reader's cache can
    take in the writer's own change without reading it back.
    """

    value: T
    operations: Sequence[CommitOperation] = ()
    message: str = ""
    landed: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Backoff:
    """Pause after the n-th conflict in a row: uniform in [0, min(max_s, first_s * 2**n)] ("full jitter").

    Full jitter spreads writers that collided over the whole window, which is what breaks a convoy of workers
    that all read the same head; the cap keeps a busy store from stalling a writer for long.
    """

    first_s: float = 0.05
    max_s: float = 2.0

    def delay(self, conflicts: int) -> float:
        return random.uniform(0.0, min(self.max_s, self.first_s * 2**conflicts))


def _gave_up(store: Store, what: str, attempts: int) -> StoreError:
    return TransientStoreError(
        f"{store}: could not {what}: gave up after {attempts} attempts because other writers kept committing "
        "first; try again"
    )


def transact(
    store: Store,
    step: Callable[[], tuple[str, Plan[T]]],
    *,
    what: str,
    max_attempts: int = 20,
    backoff: Backoff = Backoff(),
    gave_up: Callable[[Store, str, int], StoreError] = _gave_up,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `step` (read, then decide: the parent revision and a Plan) and commit its plan; retry on conflict.

    Returns the plan's value once its operations landed, or at once when it has none. After `max_attempts`
    conflicts in a row, raises what `gave_up` builds (TransientStoreError by default: trying again later is
    safe, nothing was applied). Any other error from `step` or the commit propagates unchanged.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    for attempt in range(max_attempts):
        parent, plan = step()
        if not plan.operations:
            return plan.value
        try:
            revision = store.commit(plan.operations, parent_revision=parent, message=plan.message)
        except ConflictError:
            logger.debug("%s: %s conflicted (attempt %d); reading again", store, what, attempt + 1)
            if attempt + 1 < max_attempts:
                sleep(backoff.delay(attempt))
            continue
        if plan.landed is not None:
            plan.landed(revision)
        return plan.value
    raise gave_up(store, what, max_attempts)
