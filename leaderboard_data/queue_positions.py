"""Places in the queue, computed one way for everyone who shows them (the submission receipt, the Space).

A request whose lease expired is still RUNNING in the store until the next claim or reap settles it, but it is
already back in the queue (or, out of attempts, failed): positions count it as the reaper will, so a place
given at submission time matches the place the Queue tab shows a second later.

Example:
    >>> queue_positions(queue.list_requests(), utc_now())
    {'3f2a9c0d1e4b5a67': 1, '9b1e...': 2}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from leaderboard_data.queue import claim_order, submitter_key
from leaderboard_data.records import Request, RequestStatus

DEFAULT_MAX_ATTEMPTS = 3  # RequestQueue's default: claims a request may lose to expired leases before it fails


def lease_expired(request: Request, now: datetime) -> bool:
    """Whether `request` is RUNNING under a lease that expired at or before `now`."""
    lease = request.lease
    return request.status == RequestStatus.RUNNING and lease is not None and lease.expires_at <= now


def queue_positions(
    requests: Iterable[Request], now: datetime, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> dict[str, int]:
    """1-based places in claim order of every request waiting at `now`, keyed by request id.

    Waiting means PENDING, or RUNNING under an expired lease with attempts left (the reaper puts it back).
    Running counts, which decide the fair share between submitters, include only leases still live.
    """
    waiting: list[Request] = []
    running: Counter[str] = Counter()
    for request in requests:
        if request.status == RequestStatus.PENDING:
            waiting.append(request)
        elif lease_expired(request, now):
            if request.attempts < max_attempts:
                waiting.append(request)
        elif request.status == RequestStatus.RUNNING:
            running[submitter_key(request.submitter)] += 1
    return {r.request_id: i for i, r in enumerate(claim_order(waiting, running), start=1)}
